"""What the distribution engine is told: by the calls waiting (through the call flow), by the
agents and their phones, and by the adapters carrying out its commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from ivr.core.callbacks import Callback
from ivr.core.commands import ExitKind, WaitingCall
from ivr.core.pull import Action


@dataclass(frozen=True)
class CallerJoined:
    """A live caller waits in a campaign's line."""

    call_id: str
    campaign: str
    priority: int
    call: WaitingCall
    waited: float = 0.0
    """Seconds already waited (a caller taken back after a restart keeps its place)."""


@dataclass(frozen=True)
class CallerLeft:
    """Hung up, gave up waiting, or its call ended: everything held for it is released."""

    call_id: str
    why: str = "the caller hung up"
    hung_up: bool = True
    """The caller hung up (an abandon, unless an agent had answered); else the flow took it out."""
    how: ExitKind = "sent"
    """When the flow took it out: why (its maximum wait, the exit key...)."""
    key: str = ""


@dataclass(frozen=True)
class CallerReady:
    """The caller's prompt is stopped after ``AgentAnswered``: it can join the agent's bridge
    (Asterisk adds a channel to a bridge only once its prompt is over). For a callback: its
    customer, on that leg (``call_id``), accepted the call."""

    call_id: str


@dataclass(frozen=True)
class CallbackQueued:
    """A callback due now: it waits in its campaign's line at the original call's place."""

    callback: Callback
    endpoint: str
    """What dials the customer (the callback node's trunk with the number)."""
    briefing: tuple[str, ...]
    """What the agent hears before the customer is dialled (the caller's message, a beep)."""
    dial_seconds: int


@dataclass(frozen=True)
class CallbackHeld:
    """This node holds the callback against the others (or another node does: ``held`` False)."""

    callback_id: str
    held: bool


@dataclass(frozen=True)
class CallbackDropped:
    """Cancelled, expired, or taken by another node: no longer waiting here."""

    callback_id: str


@dataclass(frozen=True)
class AgentBriefed:
    """The agent who took a callback has heard its briefing: dial the customer."""

    offer_id: str


@dataclass(frozen=True)
class AttemptStarted:
    """The store counted the attempt (``attempt``), or refused it (None: not held, not pending)."""

    callback_id: str
    attempt: int | None


@dataclass(frozen=True)
class CustomerLegEnded:
    """The leg to a callback's customer is gone: busy, no answer, no key, or hung up."""

    channel_id: str
    reason: str


@dataclass(frozen=True)
class PullOpened:
    """The store gave the pulled call its code (None: it could not be stored: ``error``)."""

    call_id: str
    code: int | None
    error: str = ""


@dataclass(frozen=True)
class StaffTexted:
    """A notification SMS went to the agent, or did not (``error``)."""

    call_id: str
    agent: str
    error: str = ""


@dataclass(frozen=True)
class CallPulled:
    """A staff member's claim on a pulled call won in the store: by SMS or through the API."""

    call_id: str
    code: int
    agent: str
    action: Action
    via: str
    """"sms" or "api"."""


@dataclass(frozen=True)
class BackendAccepted:
    """The customer's backend took the call handed to it, or could not (``error``: the campaign's
    strategy serves it)."""

    call_id: str
    error: str = ""


@dataclass(frozen=True)
class Target:
    """Whom the backend connects a caller to."""

    kind: Literal["agent", "sip", "number"]
    value: str
    """The agent's id, the SIP URI, or the number (E.164)."""
    endpoint: str
    """What Asterisk dials ("" for an agent: the agent's own)."""


@dataclass(frozen=True)
class ConnectTarget:
    """The backend's command: ring the target and bridge the caller with it."""

    call_id: str
    command_id: str
    target: Target


@dataclass(frozen=True)
class TeamAnswered:
    """The dynamic team service's answer: agents in order, or None (use the strategy)."""

    call_id: str
    agents: tuple[str, ...] | None
    reason: str = ""


@dataclass(frozen=True)
class OwnAgentRecalled:
    """The agent stored for the caller's customer id ("" when none, or unreadable: ``error``)."""

    call_id: str
    agent: str
    error: str = ""


@dataclass(frozen=True)
class ClaimGranted:
    offer_id: str


@dataclass(frozen=True)
class ClaimRefused:
    """Another app node holds the agent."""

    offer_id: str


@dataclass(frozen=True)
class RingFailed:
    offer_id: str
    reason: str


@dataclass(frozen=True)
class OfferAnswered:
    """The agent's phone answered (its leg entered the app)."""

    offer_id: str


@dataclass(frozen=True)
class OfferEnded:
    """The agent's leg is gone: declined, rang out, or hung up."""

    offer_id: str
    reason: str


@dataclass(frozen=True)
class Bridged:
    offer_id: str
    bridge_id: str


@dataclass(frozen=True)
class BridgeFailed:
    offer_id: str
    bridge_id: str
    reason: str


@dataclass(frozen=True)
class PhoneSeen:
    """What Asterisk says of an agent's own phone: ``state`` is its endpoint state ("online",
    "offline"...), or None when Asterisk knows no such endpoint."""

    agent: str
    state: str | None
    busy: bool


@dataclass(frozen=True)
class AgentsChanged:
    """An agent's state was changed from outside (API, another node, a reload)."""


@dataclass(frozen=True)
class Woke:
    """A ``Wake`` the engine asked for is due."""

    key: str


@dataclass(frozen=True)
class SpareCounts:
    """The spares' overflow calls of a day as the store has them, all app nodes' together: read
    every few seconds, or returned by ``CountSpareCall``. Each count replaces the engine's for
    that agent and day unless the engine's is higher (a call counted here whose write is still on
    its way, or was lost)."""

    day: date
    counts: tuple[tuple[str, int], ...]
    """(agent, calls)."""


@dataclass(frozen=True)
class Stopping:
    """The app stops: conversations with agents are left bridged, not torn down."""


DistributionEvent = (CallerJoined | CallerLeft | CallerReady | CallbackQueued | CallbackHeld | CallbackDropped
                     | AgentBriefed | AttemptStarted | CustomerLegEnded | PullOpened | StaffTexted
                     | CallPulled | BackendAccepted | ConnectTarget | TeamAnswered | OwnAgentRecalled
                     | ClaimGranted | ClaimRefused | RingFailed | OfferAnswered | OfferEnded | Bridged
                     | BridgeFailed | PhoneSeen | AgentsChanged | SpareCounts | Woke | Stopping)
