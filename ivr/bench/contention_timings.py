"""What `ivr bench contention` measures, from Asterisk's timestamped AMI events (the same
for the app and for Queue()): each caller's wait, and how soon an agent whose call ended is
rung again for one of the callers waiting."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from ivr.bench.ami_events import Event
from ivr.bench.call_timings import AGENT_PREFIX, CALLER_PREFIX, Leg, legs_by_call


@dataclass(frozen=True)
class Caller:
    entered: float
    """Asterisk created the caller's channel (the INVITE arrived)."""
    offered: float | None
    """The first agent's phone was dialled for this caller."""
    answered: float | None
    """An agent answered."""
    outcome: str
    """``completed`` (bridged with an agent) or why not."""


@dataclass(frozen=True)
class AgentLeg:
    phone: str
    """The agent's endpoint, ``agent-NAME``."""
    created: float
    hung_up: float | None


def phone_of(channel: str) -> str:
    """The endpoint of a channel name.

    >>> phone_of("PJSIP/agent-c12-0000001a")
    'agent-c12'
    """
    return channel.removeprefix("PJSIP/").rpartition("-")[0]


def calls(events: Iterable[Event]) -> tuple[list[Caller], list[AgentLeg]]:
    """The callers, and every agent leg, grouped by the caller's linked id (Queue()'s Dial()
    and the app's originate both make the agent leg share it)."""
    callers: list[Caller] = []
    legs: list[AgentLeg] = []
    for group in legs_by_call(events).values():
        agents = [leg for leg in group.values() if leg.channel.startswith(AGENT_PREFIX)]
        legs += [AgentLeg(phone_of(leg.channel), leg.created, leg.hung_up) for leg in agents]
        callers += [_caller(leg, agents) for leg in group.values() if leg.channel.startswith(CALLER_PREFIX)]
    return callers, legs


def _caller(caller: Leg, agents: Sequence[Leg]) -> Caller:
    offered = min((leg.created for leg in agents), default=None)
    answered = min((leg.answered for leg in agents if leg.answered is not None), default=None)
    bridged = any(bridge in caller.bridges for leg in agents for bridge in leg.bridges)
    if bridged:
        outcome = "completed"
    elif answered is not None:
        outcome = "agent answered, never bridged"
    elif offered is not None:
        outcome = "no agent answered"
    else:
        outcome = f"never offered ({caller.cause or 'no hang-up seen'})"
    return Caller(caller.created, offered, answered, outcome)


def waiting_at(callers: Sequence[Caller], moment: float) -> int:
    """Callers in at ``moment`` whom no agent's phone was dialled for yet.

    >>> callers = [Caller(0.0, 5.0, 7.0, "completed"), Caller(1.0, None, None, "never offered")]
    >>> waiting_at(callers, 4.0), waiting_at(callers, 6.0), waiting_at(callers, 0.5)
    (2, 1, 1)
    """
    return sum(1 for c in callers if c.entered <= moment and (c.offered is None or c.offered > moment))


def free_phones_at(legs: Sequence[AgentLeg], moment: float) -> int:
    """Agents' phones whose last call ended at or before ``moment`` and not rung again since."""
    free = 0
    for phone_legs in _by_phone(legs).values():
        before = [leg for leg in phone_legs if leg.created <= moment]
        if before and before[-1].hung_up is not None and before[-1].hung_up <= moment:
            free += 1
    return free


def free_to_ring(callers: Sequence[Caller], legs: Sequence[AgentLeg]) -> list[float]:
    """Seconds from an agent's leg hanging up to the next leg to the same phone, counted only
    when at that moment at least as many callers waited as phones were free (otherwise the
    agent may rightly stay idle: nobody was left for it).

    Two agents, three callers who come at once; b is rung 0.25 s after its first call ends,
    for the third caller; a's second ring came with nobody left waiting, so it does not count:

    >>> callers = [Caller(0.0, 0.1, 2.1, "completed"), Caller(0.0, 0.1, 2.1, "completed"),
    ...            Caller(0.0, 7.25, 9.25, "completed")]
    >>> legs = [AgentLeg("agent-a", 0.1, 7.5), AgentLeg("agent-b", 0.1, 7.0),
    ...         AgentLeg("agent-b", 7.25, 14.0), AgentLeg("agent-a", 20.0, 25.0)]
    >>> free_to_ring(callers, legs)
    [0.25]
    """
    gaps = []
    for phone_legs in _by_phone(legs).values():
        for ended, following in pairwise(phone_legs):
            moment = ended.hung_up
            if moment is None or following.created < moment:
                continue
            if waiting_at(callers, moment) >= free_phones_at(legs, moment):
                gaps.append(following.created - moment)
    return sorted(gaps)


def _by_phone(legs: Iterable[AgentLeg]) -> dict[str, list[AgentLeg]]:
    grouped: dict[str, list[AgentLeg]] = defaultdict(list)
    for leg in sorted(legs, key=lambda leg: leg.created):
        grouped[leg.phone].append(leg)
    return grouped
