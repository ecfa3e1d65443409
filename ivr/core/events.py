"""What happens to a call, as the core sees it."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.crm_answer import Answer as CrmAnswer
from ivr.core.destinations import Destination


@dataclass(frozen=True)
class CallStarted:
    caller: str
    exten: str
    route: str
    resumed: bool = False
    waiting: str = ""
    """Taken back from an earlier process while waiting in a campaign: its IVR_WAITING."""
    customer_id: str = ""
    caller_name: str = ""


@dataclass(frozen=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True)
class PlaybackFinished:
    playback_id: str


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class Resumed:
    """The event connection came back: anything may have been missed meanwhile."""


@dataclass(frozen=True)
class HungUp:
    cause: str


@dataclass(frozen=True)
class CrmAnswered:
    answer: CrmAnswer
    seconds: float


@dataclass(frozen=True)
class AgentAnswered:
    """An agent's phone answered; the caller is about to be bridged (``AgentConnected``)."""

    agent: str


@dataclass(frozen=True)
class PulledToVoicemail:
    """In a pull campaign, a staff member sent the caller to voicemail."""

    agent: str
    via: str


@dataclass(frozen=True)
class BackendPlay:
    """In a backend-run campaign: the backend has the waiting caller hear this, then music again."""

    media: tuple[str, ...]


@dataclass(frozen=True)
class BackendSend:
    """The backend sends the waiting caller on."""

    destination: Destination


@dataclass(frozen=True)
class BackendSetVariables:
    """The backend sets channel variables on the caller (and in its record)."""

    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AgentConnected:
    agent: str


@dataclass(frozen=True)
class AgentHungUp:
    agent: str


@dataclass(frozen=True)
class OwnAgentBusy:
    """The customer's own agent cannot take the call now; the caller waits for any agent."""

    agent: str


@dataclass(frozen=True)
class QueuePosition:
    position: int
    wait_minutes: int | None
    """Estimated from the last callers served; None until there are some."""


@dataclass(frozen=True)
class MessageRecorded:
    """The caller's message is stored under ``name``; ``failed`` says why it is not."""

    name: str
    failed: str = ""


@dataclass(frozen=True)
class CallbackRegistered:
    """The callback request is stored (``callback_id``), refused by a limit (``refused``), or the
    store failed (``failed``)."""

    callback_id: str = ""
    refused: str = ""
    failed: str = ""


@dataclass(frozen=True)
class CampaignNote:
    """Something the distribution did for this call that its record should keep."""

    text: str


Event = (CallStarted | DigitPressed | PlaybackFinished | TimerFired | Resumed | HungUp | CrmAnswered
         | AgentAnswered | AgentConnected | AgentHungUp | OwnAgentBusy | CampaignNote | QueuePosition
         | MessageRecorded | CallbackRegistered | PulledToVoicemail | BackendPlay | BackendSend
         | BackendSetVariables)
