"""What the distribution engine is told: by the calls waiting (through the call flow), by the
agents and their phones, and by the adapters carrying out its commands."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.commands import WaitingCall


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


@dataclass(frozen=True)
class CallerReady:
    """The caller's prompt is stopped after ``AgentAnswered``: it can join the agent's bridge
    (Asterisk adds a channel to a bridge only once its prompt is over)."""

    call_id: str


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
class Stopping:
    """The app stops: conversations with agents are left bridged, not torn down."""


DistributionEvent = (CallerJoined | CallerLeft | CallerReady | TeamAnswered | OwnAgentRecalled | ClaimGranted
                     | ClaimRefused | RingFailed | OfferAnswered | OfferEnded | Bridged | BridgeFailed
                     | PhoneSeen | AgentsChanged | Woke | Stopping)
