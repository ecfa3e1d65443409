"""What the core asks to be done to a call; the ARI adapter carries each one out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ivr.core.callbacks import Limits, NewCallback, RetryPolicy
from ivr.core.crm_answer import Interaction
from ivr.core.facts import CallFacts


@dataclass(frozen=True)
class Answer:
    pass


@dataclass(frozen=True)
class Play:
    playback_id: str
    media: tuple[str, ...]


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True)
class ContinueInDialplan:
    context: str
    exten: str
    priority: int = 1


@dataclass(frozen=True)
class Hangup:
    reason: str = "normal"


@dataclass(frozen=True)
class StartMoh:
    music_class: str


@dataclass(frozen=True)
class StopMoh:
    pass


@dataclass(frozen=True)
class AskCrm:
    """Look the customer up; the answer comes back as a ``CrmAnswered`` event."""

    node: str
    url: str
    customer_id: str
    interaction: Interaction
    user_agent: str
    deadline: float
    authorization_env: str = ""
    extras: tuple[tuple[str, str], ...] = ()
    breaker: tuple[int, float] = (5, 30.0)


@dataclass(frozen=True)
class WaitingCall:
    """What the distribution, the agent's phone and the screen pop are told of a waiting call."""

    caller: str
    did: str
    customer_id: str = ""
    crm_variables: tuple[tuple[str, str], ...] = ()
    caller_name: str = ""
    """The caller id name the call came with."""

    def agent_variables(self, campaign: str) -> tuple[tuple[str, str], ...]:
        """Set on the agent's channel.

        >>> WaitingCall("600", "100", "1234", (("name", "Ana"),)).agent_variables("sales")[:2]
        (('IVR_CUSTOMER_ID', '1234'), ('IVR_CRM_NAME', 'Ana'))
        """
        customer = (("IVR_CUSTOMER_ID", self.customer_id),) if self.customer_id else ()
        crm = tuple((f"IVR_CRM_{name.upper()}", value) for name, value in self.crm_variables)
        return (*customer, *crm, ("IVR_CAMPAIGN", campaign), ("IVR_CALLER", self.caller),
                ("IVR_DID", self.did))


@dataclass(frozen=True)
class JoinCampaign:
    """Wait in the campaign's line until an agent answers (``AgentConnected``)."""

    campaign: str
    priority: int
    call: WaitingCall
    waited: float = 0.0
    """Seconds already waited (a caller taken back after a restart keeps its place)."""


ExitKind = Literal["timeout", "key", "callback", "sent"]
"""How the flow took a caller out of a campaign's line: its maximum wait, its exit key, a
callback asked for, or sent elsewhere (by a backend, to voicemail by staff)."""


@dataclass(frozen=True)
class LeaveCampaign:
    campaign: str
    why: str = "the caller left the line"
    how: ExitKind = "sent"
    key: str = ""
    """The exit key pressed (``how`` "key")."""


@dataclass(frozen=True)
class AskPosition:
    """Where is this caller in the line? The answer is a ``QueuePosition`` event."""

    campaign: str


@dataclass(frozen=True)
class RecordMessage:
    """Record the caller (a beep first; ``#`` or silence ends it): ``MessageRecorded``."""

    name: str
    max_seconds: float
    silence_seconds: float


@dataclass(frozen=True)
class RegisterCallback:
    """Store the callback request, durably, before the caller is told: ``CallbackRegistered``."""

    request: NewCallback
    policy: RetryPolicy
    limits: Limits


@dataclass(frozen=True)
class ConnectAgent:
    """The caller's prompt is stopped: bridge it with the agent who answered."""


@dataclass(frozen=True)
class RememberAgent:
    """Store the customer's own agent for later calls; an empty agent forgets the one stored."""

    customer_id: str
    agent: str


@dataclass(frozen=True)
class Warn:
    """Something the admin should see in the log, about this call."""

    message: str


@dataclass(frozen=True)
class Finished:
    """The flow is done with the call (it hung up, or went back to the dialplan)."""

    outcome: str
    facts: CallFacts = field(default_factory=lambda: CallFacts())


Command = (Answer | Play | StopPlayback | StartTimer | CancelTimer | SetVariable | StartMoh | StopMoh
           | AskCrm | JoinCampaign | LeaveCampaign | AskPosition | ConnectAgent | RememberAgent | Warn
           | RecordMessage | RegisterCallback | ContinueInDialplan | Hangup | Finished)
