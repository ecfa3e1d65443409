"""Agents and their state: who may be offered a call now, and how each has done so far.

State moves by the API (log in/out, ready, pause) and by call events (offered, answered, not
answered, call ended, wrap-up over). Asterisk's own view of the device always applies on top:
an agent whose device is unreachable or busy is never offered a call, whatever the state says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum


class State(Enum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"


PAUSABLE = frozenset({State.READY, State.WRAP_UP, State.PAUSED, State.RINGING})


@dataclass(frozen=True)
class AgentProfile:
    id: str
    name: str = ""
    email: str = ""
    skills: tuple[tuple[str, int], ...] = ()
    cost: float = 0.0
    weight: int = 1

    def skill(self, name: str) -> int:
        return dict(self.skills).get(name, 0)


@dataclass
class AgentStatus:
    state: State = State.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    idle_since: float = 0.0
    offers: int = 0
    answers: int = 0
    no_answers: int = 0
    no_answers_in_a_row: int = 0
    answer_seconds: float = 0.0
    offered_at: float | None = None
    reachable: bool = True
    device_busy: bool = False
    auto_paused: bool = False

    @property
    def mean_answer_seconds(self) -> float | None:
        return self.answer_seconds / self.answers if self.answers else None


class TransitionError(Exception):
    pass


@dataclass(frozen=True)
class AutoPause:
    """N no-answers in a row pause the agent for a while (0 turns it off)."""

    after: int = 3
    seconds: float = 300.0


@dataclass
class AgentBoard:
    agents: dict[str, AgentProfile]
    clock: Callable[[], float]
    auto_pause: AutoPause = AutoPause()
    statuses: dict[str, AgentStatus] = field(default_factory=dict)
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    """Told the agent's id after each change of state."""
    changed: dict[str, None] = field(default_factory=dict)
    """Agents whose state changed, or who left, since the distribution engine last took them, in
    that order: it checks only them for claims to release, not every agent it holds."""

    def __post_init__(self) -> None:
        for agent_id in self.agents:
            self.statuses.setdefault(agent_id, AgentStatus(since=self.clock()))

    def status(self, agent_id: str) -> AgentStatus:
        if agent_id not in self.statuses:
            raise KeyError(f"no agent {agent_id!r}")
        return self.statuses[agent_id]

    def available(self, agent_id: str) -> bool:
        status = self.status(agent_id)
        self._end_auto_pause(agent_id, status)
        return status.state is State.READY and status.reachable and not status.device_busy

    def available_among(self, agent_ids: Iterable[str]) -> list[str]:
        return [a for a in agent_ids if a in self.statuses and self.available(a)]

    def log_in(self, agent_id: str) -> None:
        self._set(agent_id, State.READY, allowed={State.LOGGED_OUT})

    def log_out(self, agent_id: str) -> None:
        self._set(agent_id, State.LOGGED_OUT, allowed={State.READY, State.PAUSED, State.WRAP_UP})

    def ready(self, agent_id: str) -> None:
        self._set(agent_id, State.READY, allowed={State.PAUSED, State.WRAP_UP, State.READY})
        self.status(agent_id).no_answers_in_a_row = 0

    def pause(self, agent_id: str, reason: str) -> None:
        self._set(agent_id, State.PAUSED, reason=reason, allowed=PAUSABLE)

    def offered(self, agent_id: str) -> None:
        status = self.status(agent_id)
        self._set(agent_id, State.RINGING, allowed={State.READY})
        status.offers += 1
        status.offered_at = self.clock()

    def answered(self, agent_id: str) -> None:
        """Also from paused: an agent who paused while the phone rang, then answered, is on the call."""
        status = self.status(agent_id)
        self._set(agent_id, State.ON_CALL, allowed={State.RINGING, State.PAUSED})
        status.answers += 1
        status.no_answers_in_a_row = 0
        if status.offered_at is not None:
            status.answer_seconds += self.clock() - status.offered_at
        status.offered_at = None

    def not_answered(self, agent_id: str) -> None:
        """Declined, rang out or failed: back to ready, or paused after too many in a row."""
        status = self.status(agent_id)
        status.offered_at = None
        if status.state is not State.RINGING:
            return
        status.no_answers += 1
        status.no_answers_in_a_row += 1
        rule = self.auto_pause
        if rule.after and status.no_answers_in_a_row >= rule.after:
            self._set(agent_id, State.PAUSED, allowed={State.RINGING},
                      reason=f"auto: {status.no_answers_in_a_row} offer(s) in a row not answered")
            status.auto_paused = True
            return
        self._set(agent_id, State.READY, allowed={State.RINGING}, keep_idle=True)

    def withdrawn(self, agent_id: str) -> None:
        """The offer ended without the agent's doing (another agent answered, the caller left)."""
        self.status(agent_id).offered_at = None
        self._set(agent_id, State.READY, allowed={State.RINGING}, keep_idle=True)

    def call_ended(self, agent_id: str, wrap_up: float) -> None:
        self._set(agent_id, State.WRAP_UP if wrap_up > 0 else State.READY, allowed={State.ON_CALL})

    def update(self, agents: dict[str, AgentProfile]) -> list[str]:
        """The agents of a reloaded flow: new ones join logged out, the others get their new
        profile, and those gone leave unless a call holds them (they leave at the next update).
        Returns the new ones."""
        added = [a for a in agents if a not in self.agents]
        for agent_id in [a for a in self.agents if a not in agents]:
            if self.statuses[agent_id].state not in {State.RINGING, State.ON_CALL}:
                del self.agents[agent_id], self.statuses[agent_id]
                self.changed[agent_id] = None
        for agent_id, profile in agents.items():
            self.agents[agent_id] = profile
            self.statuses.setdefault(agent_id, AgentStatus(since=self.clock()))
        return added

    def presence(self, agent_id: str) -> tuple[State, str]:
        """What the agent chose, shared with other app nodes: logged out, paused (with the
        reason), or else ready. Calls, wrap-up and automatic pauses belong to one node."""
        status = self.status(agent_id)
        if status.state is State.LOGGED_OUT or (status.state is State.PAUSED and not status.auto_paused):
            return status.state, status.reason
        return State.READY, ""

    def follow(self, agent_id: str, state: State, reason: str) -> None:
        """Apply a presence another app node stored (the agent acted through that node's API)."""
        status = self.status(agent_id)
        if state is State.LOGGED_OUT:
            if status.state in {State.READY, State.PAUSED, State.WRAP_UP}:
                self.log_out(agent_id)
            return
        if status.state is State.LOGGED_OUT:
            self.log_in(agent_id)
        if state is State.PAUSED and status.state in PAUSABLE:
            self.pause(agent_id, reason)
        elif state is State.READY and status.state is State.PAUSED and not status.auto_paused:
            self.ready(agent_id)

    def device(self, agent_id: str, reachable: bool | None = None, busy: bool | None = None) -> None:
        """What Asterisk says of the agent's device (endpoint state, channels on it)."""
        status = self.status(agent_id)
        if reachable is not None:
            status.reachable = reachable
        if busy is not None:
            status.device_busy = busy

    def _end_auto_pause(self, agent_id: str, status: AgentStatus) -> None:
        if (status.state is State.PAUSED and status.auto_paused
                and self.clock() - status.since >= self.auto_pause.seconds):
            status.no_answers_in_a_row = 0
            self._set(agent_id, State.READY, allowed={State.PAUSED})

    def _set(self, agent_id: str, state: State, allowed: set[State] | frozenset[State], reason: str = "",
             keep_idle: bool = False) -> None:
        status = self.status(agent_id)
        if status.state not in allowed:
            raise TransitionError(f"agent {agent_id}: cannot go from {status.state.value} to {state.value}")
        now = self.clock()
        if state is State.READY and not keep_idle and status.state is not State.READY:
            status.idle_since = now
        changed = (status.state, status.reason) != (state, reason)
        status.state, status.reason, status.since = state, reason, now
        status.auto_paused = False
        if changed:
            self.changed[agent_id] = None
            for listener in self.listeners:
                listener(agent_id)
