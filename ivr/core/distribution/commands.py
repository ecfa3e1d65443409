"""What the distribution engine asks the adapters to do. Each command that has an outcome is
answered with an event (named in its docstring)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from ivr.core.commands import ExitKind
from ivr.core.events import Event as CallEvent


@dataclass(frozen=True)
class ClaimAgent:
    """Hold the agent against other app nodes for this offer: ``ClaimGranted`` or ``ClaimRefused``."""

    offer_id: str
    agent: str


@dataclass(frozen=True)
class ReleaseAgent:
    """The agent's claim for that offer is over (a later offer's claim is left alone)."""

    agent: str
    offer_id: str


@dataclass(frozen=True)
class RingAgent:
    """A leg to the agent's phone, with the caller's channel as its originator: ``OfferAnswered``,
    ``OfferEnded`` or ``RingFailed``."""

    offer_id: str
    agent: str
    endpoint: str
    call_id: str
    caller_id: str
    seconds: int
    variables: tuple[tuple[str, str], ...]
    originator: str
    """The caller's channel, whose codecs the leg takes; "" for a callback (no caller yet)."""


@dataclass(frozen=True)
class HangUpAgent:
    """End the agent's leg (ringing or answered)."""

    offer_id: str


@dataclass(frozen=True)
class BridgeCall:
    """The caller and the agent's leg in one bridge: ``Bridged`` or ``BridgeFailed``."""

    bridge_id: str
    call_id: str
    offer_id: str


@dataclass(frozen=True)
class EndBridge:
    bridge_id: str


@dataclass(frozen=True)
class HoldCallback:
    """Hold the callback against the other app nodes: ``CallbackHeld``."""

    callback_id: str


@dataclass(frozen=True)
class LetGoCallback:
    """This node's hold ends: no agent of its is free for the callback."""

    callback_id: str


@dataclass(frozen=True)
class BriefAgent:
    """Play the briefing on the agent's leg: ``AgentBriefed`` when it ends."""

    offer_id: str
    media: tuple[str, ...]


@dataclass(frozen=True)
class StartAttempt:
    """Count an attempt in the store before dialling: ``AttemptStarted``."""

    callback_id: str


@dataclass(frozen=True)
class DialCustomer:
    """A leg to the callback's customer, with the agent's leg as originator. Its channel id
    names the callback and the attempt, so that Asterisk refuses a second originate of the same
    attempt. The customer accepting is ``CallerReady`` on that leg; its end, ``CustomerLegEnded``."""

    channel_id: str
    callback_id: str
    attempt: int
    endpoint: str
    caller_id: str
    seconds: int
    originator: str
    number: str
    """The customer's number (E.164), for the record."""


@dataclass(frozen=True)
class HangUpCustomer:
    channel_id: str


@dataclass(frozen=True)
class FinishAttempt:
    callback_id: str
    attempt: int
    completed: bool
    reason: str


@dataclass(frozen=True)
class OpenPull:
    """Store the pulled call, open to claims: ``PullOpened`` with its code."""

    call_id: str
    campaign: str
    caller: str
    name: str
    location: str


@dataclass(frozen=True)
class TextStaff:
    """An SMS to a staff member. A notification (``call_id`` set) is answered ``StaffTexted``
    and skipped for a number that opted out; an answer to a reply is always sent."""

    agent: str
    number: str
    text: str
    call_id: str = ""


@dataclass(frozen=True)
class ReopenPull:
    """The taker's phone did not answer: the call is open to claims again."""

    code: int


@dataclass(frozen=True)
class ClosePull:
    """No claim can win it any more: ``outcome`` says why (served, voicemail, hung up...)."""

    code: int
    outcome: str


@dataclass(frozen=True)
class HandToBackend:
    """POST the call to the campaign's backend: ``BackendAccepted``."""

    call_id: str
    campaign: str
    url: str
    deadline: float
    data: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class TellBackend:
    """A call event for the backend's webhook, delivered in order, at least once."""

    call_id: str
    campaign: str
    url: str
    type: str
    data: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class TellCaller:
    """An event for the caller's call flow (music, announcements, its record, IVR_AGENT)."""

    call_id: str
    event: CallEvent


@dataclass(frozen=True)
class NotifyAgent:
    """A screen pop: the agent is offered a call (the API's event stream)."""

    agent: str
    data: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class AskTeam:
    """Ask the campaign's dynamic team service: ``TeamAnswered``."""

    call_id: str
    url: str
    deadline: float
    data: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class RecallOwnAgent:
    """Read the agent stored for the customer: ``OwnAgentRecalled``."""

    call_id: str
    customer_id: str


@dataclass(frozen=True)
class CountSpareCall:
    """One more overflow call answered by the spare on that day (the campaign's
    ``overflow_timezone``), in the store the app nodes share: ``SpareCounts`` with the stored
    count. The engine has counted it already: a store that cannot be reached loses no call."""

    agent: str
    day: date


@dataclass(frozen=True)
class Wake:
    """``Woke(key)`` after ``seconds``."""

    key: str
    seconds: float


LineKind = Literal["entered", "unanswered", "answered", "ended", "abandoned", "left", "callback"]


@dataclass(frozen=True)
class LineEvent:
    """For the wallboard and the reports (``ivr.store.queue_log``): a caller entered a campaign's
    line, an agent's phone rang unanswered, an agent answered, the talk ended, or the caller left
    the line unanswered (``abandoned``: it hung up; ``left``: the flow took it out, ``how`` says
    why); or a callback's attempt ended (``callback``: ``call_id`` is the callback's id,
    ``attempt`` its number, ``connected`` whether the customer talked with the agent)."""

    campaign: str
    call_id: str
    kind: LineKind
    waited: float
    """Seconds in the line: until leaving it, or until the answer (answered, ended)."""
    agent: str = ""
    why: str = ""
    position: int = 0
    """Place in the line (1: served next) on entering, or on leaving it unanswered."""
    first_position: int = 0
    """Place on entering."""
    how: ExitKind | None = None
    """left: the flow's reason (its maximum wait, the exit key, a callback, sent elsewhere)."""
    key: str = ""
    """left by the exit key: that key."""
    rang: float = 0.0
    """answered, unanswered: seconds the agent's phone rang."""
    talked: float = 0.0
    """ended: seconds from the bridge to the end."""
    by: Literal["caller", "agent", ""] = ""
    """ended: who hung up first."""
    caller: str = ""
    """entered: the caller's number."""
    leg: str = ""
    """answered: the agent's leg's channel id."""
    attempt: int = 0
    """callback: the attempt's number."""
    connected: bool = False
    """callback: the customer talked with the agent."""


@dataclass(frozen=True)
class Log:
    """A line for the admin's log."""

    message: str
    level: int = field(default=logging.INFO)


DistributionCommand = (ClaimAgent | ReleaseAgent | RingAgent | HangUpAgent | BridgeCall | EndBridge
                       | HoldCallback | LetGoCallback | BriefAgent | StartAttempt | DialCustomer
                       | HangUpCustomer | FinishAttempt | OpenPull | TextStaff | ReopenPull | ClosePull
                       | HandToBackend | TellBackend | TellCaller | NotifyAgent | AskTeam | RecallOwnAgent
                       | CountSpareCall | LineEvent | Wake | Log)
