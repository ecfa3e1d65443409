"""Work waiting for an agent, in a campaign's line. A live caller is one kind of work.

    asking --> waiting <--> offering --> connecting --> talking --> done
                  ^                           |
                  +------ (agent lost) -------+

``asking``: the dynamic team or the customer's stored agent is being looked up before any
offer. Any state but done may end in ``left``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ivr.core.commands import WaitingCall
from ivr.core.distribution.offers import Offer
from ivr.core.distribution.transitions import next_state
from ivr.core.nodes import Campaign
from ivr.core.pull import WaitingPull
from ivr.core.waiting import Waiting


class WorkState(Enum):
    ASKING = "asking"
    WAITING = "waiting"
    OFFERING = "offering"
    CONNECTING = "connecting"
    TALKING = "talking"
    DONE = "done"
    LEFT = "left"


ASK, WAIT, OFFER, CONNECT, TALK, DONE, LEFT = WorkState
WORK_TABLE: dict[tuple[WorkState, str], WorkState] = {
    (ASK, "answered"): WAIT, (ASK, "leave"): LEFT,
    (WAIT, "offer"): OFFER, (WAIT, "hold"): ASK, (WAIT, "leave"): LEFT,
    (OFFER, "no offer left"): WAIT, (OFFER, "answered"): CONNECT, (OFFER, "leave"): LEFT,
    (CONNECT, "bridged"): TALK, (CONNECT, "agent lost"): WAIT, (CONNECT, "attempt failed"): DONE,
    (CONNECT, "leave"): LEFT,
    (TALK, "agent hung up"): DONE, (TALK, "customer hung up"): DONE, (TALK, "leave"): LEFT,
    (DONE, "leave"): LEFT,
}


class WorkKind(Enum):
    CALL = "call"
    """A live caller, waiting on the line with music."""
    CALLBACK = "callback"
    """A caller who left the line to be called back: the agent is offered it first, hears its
    briefing, then the customer is dialled and must accept (``ivr.core.callbacks``)."""


@dataclass(frozen=True)
class CallbackWork:
    """What a callback item needs beyond a call's data."""

    callback_id: str
    caller_id: str
    message: str
    """The caller's recording for the agent, or ""."""
    endpoint: str
    briefing: tuple[str, ...]
    dial_seconds: int


@dataclass
class WorkItem:
    id: str
    """The caller's channel id."""
    kind: WorkKind
    campaign: str
    node: Campaign
    waiting: Waiting
    call: WaitingCall
    state: WorkState = WorkState.WAITING
    offers: dict[str, Offer] = field(default_factory=dict)
    """Pending offers (proposed, claimed or ringing), by id, in the order they were made."""
    connected: str | None = None
    """The answered offer, from the answer to the end of the conversation."""
    team: tuple[str, ...] | None = None
    stored_agent: str = ""
    asking: set[str] = field(default_factory=set)
    """What is looked up before any offer: ``team``, ``own agent``."""
    start_over: bool = False
    """Every agent was tried: offer to them again from the next tick."""
    callback: CallbackWork | None = None
    held: bool = False
    """A callback this node holds against the others."""
    attempt: int = 0
    customer_leg: str | None = None
    pull: WaitingPull | None = None
    """In a pull campaign: what its staff are told (the code once stored)."""
    pull_closed: bool = False
    backend: bool = False
    """Handed to the customer's backend, which says whom to connect; not matched here."""
    bridged_at: float | None = None
    first_position: int = 0
    """Its place in the line on entering (the queue_log's origposition)."""
    held_for: float = 0.0
    """Seconds it waited until the agent's answer."""

    def move(self, trigger: str) -> WorkState:
        self.state = next_state(WORK_TABLE, f"{self.kind.value} {self.id}", self.state, trigger)
        return self.state

    def call_data(self) -> dict[str, Any]:
        """What the dynamic team service and the agents' screen pop are told of the work."""
        call = self.call
        data = {"call": self.id, "campaign": self.campaign, "caller": call.caller, "did": call.did,
                "customer_id": call.customer_id, "variables": dict(call.crm_variables)}
        if self.callback is not None:
            data |= {"callback": self.callback.callback_id, "message": self.callback.message}
        return data

    def crm_agent(self) -> str:
        return dict(self.call.crm_variables).get("agent", "") if self.node.prefer_crm_agent else ""

    def preferred(self, agent_names: Mapping[str, str]) -> str:
        """The customer's own agent: as the CRM named it (``agent`` variable: id or email), or
        else as stored for the customer (``agent_names``: Flow.agent_names)."""
        named = self.crm_agent() or self.stored_agent
        return agent_names.get(named, named)
