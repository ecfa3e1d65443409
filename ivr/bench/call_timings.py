"""Each benchmark call's moments, from Asterisk's own timestamps on its AMI events, the same
for the three ways: the caller's channel (``PJSIP/loopback-*``) and the agent legs that share
its linked id (``PJSIP/agent-*``, dialled by Dial() or originated by the app with the caller as
originator)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ivr.bench.ami_events import Event

CALLER_PREFIX = "PJSIP/loopback-"
AGENT_PREFIX = "PJSIP/agent-"
UP = "6"


@dataclass
class Leg:
    channel: str
    created: float
    answered: float | None = None
    digits: list[float] = field(default_factory=list)
    bridges: dict[str, float] = field(default_factory=dict)
    cause: str = ""
    hung_up: float | None = None


@dataclass(frozen=True)
class CallTiming:
    """One caller: ``outcome`` is ``completed`` (bridged with an agent) or why not."""

    outcome: str
    invite_to_answer: float | None = None
    digit_to_agent_answer: float | None = None
    digit_to_bridge: float | None = None


def legs_by_call(events: Iterable[Event]) -> dict[str, dict[str, Leg]]:
    """Linked id -> unique id -> leg, for the callers' and agents' channels."""
    calls: dict[str, dict[str, Leg]] = defaultdict(dict)
    legs: dict[str, Leg] = {}
    for event in events:
        kind, uid, at = event.get("Event"), event.get("Uniqueid", ""), float(event.get("Timestamp", "0"))
        if kind == "Newchannel" and event.get("Channel", "").startswith((CALLER_PREFIX, AGENT_PREFIX)):
            legs[uid] = calls[event.get("Linkedid", uid)][uid] = Leg(event["Channel"], at)
        leg = legs.get(uid)
        if leg is None:
            continue
        if kind == "Newstate" and event.get("ChannelState") == UP and leg.answered is None:
            leg.answered = at
        elif kind == "DTMFEnd" and event.get("Direction") == "Received":
            leg.digits.append(at)
        elif kind == "BridgeEnter":
            leg.bridges.setdefault(event.get("BridgeUniqueid", ""), at)
        elif kind == "Hangup":
            leg.cause = event.get("Cause-txt", event.get("Cause", ""))
            leg.hung_up = at
    return calls


def timing(legs: dict[str, Leg], digits: int) -> CallTiming | None:
    """The caller's timing, or None for a group without a caller (nothing of the benchmark)."""
    caller = next((leg for leg in legs.values() if leg.channel.startswith(CALLER_PREFIX)), None)
    if caller is None:
        return None
    agents = [leg for leg in legs.values() if leg.channel.startswith(AGENT_PREFIX)]
    if caller.answered is None:
        return CallTiming(f"caller not answered ({caller.cause or 'no hang-up seen'})")
    invite = caller.answered - caller.created
    if len(caller.digits) < digits:
        return CallTiming(f"{len(caller.digits)} of {digits} digits received", invite)
    last_digit = caller.digits[digits - 1]
    answered = [leg.answered for leg in agents if leg.answered is not None]
    if not answered:
        return CallTiming("no agent answered", invite)
    bridged = [max(at, caller.bridges[bridge]) for leg in agents for bridge, at in leg.bridges.items()
               if bridge in caller.bridges]
    if not bridged:
        return CallTiming("agent answered, never bridged", invite, min(answered) - last_digit)
    return CallTiming("completed", invite, min(answered) - last_digit, min(bridged) - last_digit)


def call_timings(events: Iterable[Event], digits: int) -> list[CallTiming]:
    return [t for legs in legs_by_call(events).values() if (t := timing(legs, digits)) is not None]
