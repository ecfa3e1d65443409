"""The nodes an admin writes in a flow file, as validated, immutable data: the places a call
can be sent to. The flow file's other tables (agents, trunks, time groups) are in
``flow_tables.py``.

Each kind of node is one table in the flow file (``[menu.main]``, ``[identification.vip]``);
``NODE_KINDS``, at the end, lists them. The field descriptions here are what ``docs/flows.md``
documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from ivr.core.crm_answer import Interaction
from ivr.core.destinations import HANG_UP, Destination
from ivr.core.fields import (
    AGENT_NAME,
    DIALPLAN_NAME,
    DTMF_KEY,
    SKILL,
    Media,
    NodeId,
    Seconds,
    Table,
)
from ivr.core.pull import CARRIER_WORDS, WORD, Words
from ivr.core.strategies import strategy_name


def parse_destination(text: str) -> Destination:
    """``kind:name``, or ``hangup`` alone for a plain hang-up.

    >>> parse_destination("menu:main")
    Destination(kind='menu', name='main')
    >>> parse_destination("hangup") == HANG_UP
    True
    >>> parse_destination("queue:x")
    Traceback (most recent call last):
    ValueError: unknown kind 'queue' (expected kind:name, kind one of campaign, time, menu, hangup, \
identification, message, voicemail, dialplan, external, callback)
    """
    if text == "hangup":
        return HANG_UP
    kind, sep, name = text.partition(":")
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected kind:name, kind one of {', '.join(NODE_KINDS)})")
    if not sep or not name:
        raise ValueError(f"expected {kind}:<name>, got {text!r}")
    return Destination(kind, name)


def _destination(value: object) -> Destination:
    if isinstance(value, Destination):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a destination \"kind:name\", e.g. \"menu:main\"")
    return parse_destination(value)


Dest = Annotated[Destination, BeforeValidator(_destination)]


class Node(Table):
    """A destination: a table ``[kind.name]`` a call can be sent to."""


class Coded(Node):
    id: NodeId | None = Field(None, description="the Y a CRM answers in \"X,Y\"; no id: CRMs cannot name it")


class Identification(Coded):
    prompt: Media = Field(("sound:ivr/enter-customer-id",), min_length=1)
    expected_length: int = Field(0, ge=0, le=64, description="0: any length up to max_length")
    max_length: int = Field(20, ge=1, le=64)
    terminator: str = Field("#", pattern=r"^[#*]?$")
    attempts: int = Field(3, ge=1, le=10)
    timeout: Seconds = Field(5.0, description="seconds for the first digit, after the prompt")
    inter_digit_timeout: Seconds = 3.0
    invalid_prompt: Media = ("sound:ivr/invalid-entry",)
    no_input_prompt: Media = ("sound:ivr/no-entry",)
    confirm: bool = Field(False, description="read the entry back and ask to press 1")
    confirm_prompt: Media = ("sound:ivr/to-confirm-press-1",)
    interaction: Interaction = Interaction.NONE
    url: str = ""
    user_agent: str = Field("OMniLeads", pattern=r"^[ -~]{1,100}$")
    authorization_env: str = Field("", pattern=r"^([A-Z_][A-Z0-9_]*)?$",
                                   description="environment variable holding the Authorization header")
    send_caller: bool = Field(False, description="also send callerId and did")
    deadline: float = Field(3.0, gt=0, le=8)
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_cooldown: Seconds = 30.0
    hold_prompt: Media = ()
    hold_music: str = Field("ivr", pattern=DIALPLAN_NAME)
    hold_music_after: float = Field(0.4, ge=0, le=5, description="seconds of waiting for the CRM before "
                                    "the music starts (0: at once); not with a hold_prompt")
    on_identified: Dest | None = Field(None, description="not used with interaction = destination")
    on_not_identified: Dest
    on_unavailable: Dest | None = Field(None, description="default: on_not_identified")


    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Identification:
        if self.interaction is not Interaction.NONE and not self.url:
            raise ValueError(f"interaction {self.interaction.value!r} needs 'url' (the CRM service)")
        if self.on_identified is None and self.interaction is not Interaction.DESTINATION:
            raise ValueError(f"interaction {self.interaction.value!r} needs 'on_identified'")
        if self.expected_length > self.max_length:
            raise ValueError(f"expected_length ({self.expected_length}) is above max_length")
        return self

    @property
    def identified(self) -> Destination:
        if self.on_identified is None:
            raise ValueError("on_identified is only optional with interaction = destination")
        return self.on_identified

    @property
    def failure(self) -> Destination:
        return self.on_unavailable or self.on_not_identified


class Menu(Coded):
    prompt: Media = Field(min_length=1)
    options: dict[Annotated[str, Field(pattern=DTMF_KEY)], Dest] = Field(min_length=1)
    timeout: Seconds = 5.0
    attempts: int = Field(3, ge=1, le=10)
    invalid_prompt: Media = ("sound:ivr/invalid-entry",)
    timeout_prompt: Media = ("sound:ivr/no-entry",)
    on_failure: Dest


class TimeCondition(Coded):
    timezone: str = Field(description="IANA name, e.g. Europe/Madrid")
    open: tuple[Annotated[str, Field(pattern=DIALPLAN_NAME)], ...] = Field(min_length=1)
    closed: tuple[Annotated[str, Field(pattern=DIALPLAN_NAME)], ...] = ()
    on_match: Dest
    otherwise: Dest


class Message(Node):
    prompt: Media = Field(min_length=1)
    then: Dest = Field(default_factory=lambda: parse_destination("hangup"))


class HangupNode(Coded):
    prompt: Media = ()
    cause: Literal["normal", "busy", "congestion", "no_answer", "unallocated"] = "normal"


def _reply_word(word: str) -> str:
    if not WORD.fullmatch(word):
        raise ValueError(f"{word!r}: a reply word is 1-20 letters")
    if word.upper() in CARRIER_WORDS:
        raise ValueError(f"{word!r} is a carrier's keyword (opt-out, opt-in or help): carriers act on it "
                         f"themselves, so it cannot be a command")
    return word.upper()


class Campaign(Coded):
    """An inbound queue. With ``agents`` the app runs it: callers wait with music, agents are
    offered each call by the strategy, and the caller is bridged with the one who answers.
    Without, the call is handed to the dialplan context ``ivr-campaign`` (extension: the
    campaign's name), where an admin can Queue() it."""

    agents: tuple[Annotated[str, Field(pattern=AGENT_NAME)], ...] = ()
    strategy: Annotated[str, AfterValidator(strategy_name)] = "longest-idle"
    skills: dict[Annotated[str, Field(pattern=SKILL)], Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=dict, description="skill -> minimum level, for strategy = skills")
    ring_timeout: Seconds = 15.0
    max_wait: Seconds = 300.0
    on_max_wait: Dest = Field(default_factory=lambda: parse_destination("hangup"))
    wrap_up: float = Field(0.0, ge=0, le=600)
    service_level: float = Field(20.0, gt=0, le=3600, description="seconds: answered within it counts "
                                 "toward the service level")
    music: str = Field("ivr", pattern=DIALPLAN_NAME)
    announce_every: float = Field(0.0, ge=0, le=600, description="position and wait, every N s; 0: never")
    exit_key: str = Field("", pattern=r"^[0-9*#]?$", description="a key that leaves the line")
    on_exit: Dest | None = None
    overflow_after: float = Field(0.0, ge=0, le=3600, description="seconds before spares are offered")
    overflow_agents: tuple[Annotated[str, Field(pattern=AGENT_NAME)], ...] = ()
    overflow_hours: tuple[Annotated[str, Field(pattern=DIALPLAN_NAME)], ...] = Field(
        (), description="time groups when spares may be called; empty: any time")
    overflow_timezone: str = "UTC"
    overflow_daily_limit: int = Field(0, ge=0, le=10_000, description="calls per spare a day; 0: no limit")
    team_url: str = Field("", description="dynamic team: asked at each call which agents, in order")
    team_deadline: float = Field(2.0, gt=0, le=8)
    prefer_crm_agent: bool = Field(True, description="offer the CRM's `agent` variable first")
    remember_agent: bool = Field(False, description="offer first the agent stored for the customer "
                                 "(when the CRM names none); after the call, ask whether to keep them")
    keep_agent_prompt: Media = ("sound:ivr/keep-agent",)
    own_agent_busy_prompt: Media = Field((), description="played once when the customer's agent is busy")
    callback: str = Field("", pattern=r"^([a-z0-9][a-z0-9_\-]{0,39})?$",
                          description="a [callback.NAME] node: callers may ask to be called back instead")
    callback_key: str = Field("", pattern=r"^[0-9*#]?$", description="the key that asks for the callback")
    callback_after: float = Field(0.0, ge=0, le=7200, description="offer the callback (callback_prompt) once "
                                  "the estimated wait is at least this many seconds; 0: never offered")
    callback_prompt: Media = ("sound:ivr/callback-offer",)
    callback_only: bool = Field(False, description="callers do not wait: they go to the callback at once")
    mode: Literal["push", "pull", "backend"] = Field(
        "push", description="push: agents are offered each call; pull: staff are told of each call by SMS "
        "and take it (docs/pull.md); backend: the customer's backend is handed each call and commands it "
        "(docs/backend.md)")
    take_words: tuple[Annotated[str, AfterValidator(_reply_word)], ...] = Field(
        ("T",), min_length=1, description="mode pull: the reply words that take a call")
    voicemail_words: tuple[Annotated[str, AfterValidator(_reply_word)], ...] = Field(
        ("V",), min_length=1, description="mode pull: the reply words that send a call to voicemail")
    voicemail_to: Dest | None = Field(None, description="mode pull: where a call sent to voicemail goes, "
                                      "e.g. voicemail:sales; none: replies cannot send calls there")
    caller_country: str = Field("", pattern=r"^([A-Z]{2})?$", description="mode pull: the country of "
                                "callers' numbers without + (ES...), for their location")
    backend_url: str = Field("", description="mode backend: where each call is POSTed")
    events_url: str = Field("", description="mode backend: the webhook told of each call event; empty: none")
    backend_secret_env: str = Field("", pattern=r"^([A-Z_][A-Z0-9_]*)?$", description="mode backend: the "
                                    "environment variable with the secret that requests and events are "
                                    "signed with")
    backend_deadline: float = Field(3.0, gt=0, le=10, description="mode backend: seconds for the backend to "
                                    "accept a call; unreachable: the campaign's strategy serves it")
    allow_sip: tuple[Annotated[str, Field(pattern=r"^(\*\.)?[A-Za-z0-9.\-]+$")], ...] = Field(
        (), description="mode backend: hosts (or *.domain) of SIP URIs the backend may connect callers to")
    backend_trunks: tuple[Annotated[str, Field(pattern=DIALPLAN_NAME)], ...] = Field(
        (), description="mode backend: trunks the backend may connect callers through (numbers their "
        "allow lists take)")

    @field_validator("team_url", "backend_url", "events_url")
    @classmethod
    def _team_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _exit(self) -> Campaign:
        if self.exit_key and self.on_exit is None:
            raise ValueError("exit_key needs on_exit, the destination of callers who press it")
        if (self.callback_key or self.callback_after or self.callback_only) and not self.callback:
            raise ValueError("callback_key, callback_after and callback_only need callback, the name of a "
                             "[callback.NAME] node")
        if self.callback_key and self.callback_key == self.exit_key:
            raise ValueError(f"callback_key and exit_key are both {self.callback_key!r}")
        if self.mode == "backend" and not (self.backend_url and self.backend_secret_env):
            raise ValueError("mode backend needs backend_url (where calls are POSTed) and backend_secret_env "
                             "(the variable holding the signing secret)")
        if self.mode == "pull" and not self.agents:
            raise ValueError("mode pull needs agents: the staff told of each call")
        if self.mode == "pull" and self.callback:
            raise ValueError("mode pull takes no callback: staff pull calls, nobody is offered them")
        if set(self.take_words) & set(self.voicemail_words):
            shared = sorted(set(self.take_words) & set(self.voicemail_words))
            raise ValueError(f"take_words and voicemail_words share {shared}")
        if bool(self.overflow_after) != bool(self.overflow_agents):
            raise ValueError("overflow needs both overflow_after (seconds) and overflow_agents")
        return self

    @property
    def runs_in_app(self) -> bool:
        return bool(self.agents) or self.mode == "backend"

    @property
    def pull(self) -> bool:
        return self.mode == "pull"

    @property
    def backend(self) -> bool:
        return self.mode == "backend"

    def allows_sip(self, uri: str) -> bool:
        """Whether the backend may connect a caller to this SIP URI.

        >>> node = Campaign(mode="backend", backend_url="http://b", backend_secret_env="S",
        ...                 allow_sip=("*.example.com", "192.0.2.10"))
        >>> [node.allows_sip(u) for u in ("sip:op@pbx.example.com", "sip:op@192.0.2.10:5060",
        ...                               "sip:op@example.com.evil.org", "sip:op@192.0.2.11")]
        [True, True, False, False]
        """
        host = uri.partition("@")[2].split(":")[0].split(";")[0].lower()
        return bool(host) and any(host == allowed.lower() or (allowed.startswith("*.")
                                                              and host.endswith(allowed[1:].lower()))
                                  for allowed in self.allow_sip)

    @property
    def words(self) -> Words:
        return Words(self.take_words, self.voicemail_words)


class CallbackRequest(Node):
    """A caller asks to be called back: leaves the campaign's line keeping its place (Start),
    gives and confirms the number, may leave a message, and the request is stored (Register);
    a caller who presses ``decline_key``, or whose request cannot be stored, goes back into the
    line at the same place (Decline). docs/callbacks.md describes it all."""

    campaign: str = Field(pattern=AGENT_NAME, description="the campaign (with agents) that calls back")
    trunk: str = Field(pattern=DIALPLAN_NAME, description="the trunk that dials the customer")
    caller_id: str = Field("", pattern=r"^(\+?[0-9]{2,20})?$", description="shown to the customer")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="numbers without + are of this country (ES...)")
    countries: tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...] = Field(
        (), description="countries that may be called back; empty: only `country`")
    number: Literal["caller", "ask"] = Field(
        "caller", description="the caller's own number when it is valid, else asked; or always asked")
    confirm: bool = Field(True, description="read the number back and ask to press 1")
    message_seconds: float = Field(0.0, ge=0, le=300, description="longest message for the agent; 0: none")
    message_silence: float = Field(3.0, gt=0, le=30)
    attempts: int = Field(3, ge=1, le=10)
    retry_delay: float = Field(300.0, ge=1, le=86_400)
    initial_delay: float = Field(0.0, ge=0, le=86_400)
    expires_after: float = Field(86_400.0, ge=600, le=7 * 86_400)
    hours: tuple[Annotated[str, Field(pattern=DIALPLAN_NAME)], ...] = Field(
        (), description="time groups when customers may be called back; empty: any time")
    timezone: str = "UTC"
    stop_before_close: float = Field(10.0, ge=0, le=240, description="minutes before the end of `hours` "
                                     "when no callback starts any more")
    max_open_per_number: int = Field(1, ge=1, le=10)
    max_per_number_per_day: int = Field(3, ge=1, le=100)
    accept_key: str = Field("1", pattern=DTMF_KEY)
    accept_timeout: Seconds = 5.0
    accept_repeats: int = Field(1, ge=0, le=5)
    decline_key: str = Field("*", pattern=r"^[0-9*#]?$", description="back into the line, at any prompt")
    enter_number_prompt: Media = ("sound:ivr/callback-enter-number",)
    invalid_number_prompt: Media = ("sound:ivr/callback-invalid-number",)
    confirm_prompt: Media = ("sound:ivr/callback-confirm",)
    message_prompt: Media = ("sound:ivr/callback-leave-message",)
    registered_prompt: Media = ("sound:ivr/callback-registered",)
    not_registered_prompt: Media = ("sound:ivr/callback-not-registered",)
    accept_prompt: Media = ("sound:ivr/callback-accept",)
    agent_prompt: Media = Field(("sound:beep",), description="the agent hears it, then the message, "
                                "then the customer is dialled")
    dial_timeout: int = Field(30, ge=5, le=120)


class Voicemail(Node):
    box: str = Field(pattern=r"^[0-9A-Za-z_\-]+(@[0-9A-Za-z_\-]+)?$", description="mailbox[@context]")


class Dialplan(Node):
    context: str = Field(pattern=DIALPLAN_NAME)
    exten: str = Field("s", pattern=r"^[0-9A-Za-z_\-*#+]+$")
    priority: int = Field(1, ge=1)


class External(Node):
    trunk: str = Field(pattern=DIALPLAN_NAME)
    number: str = Field(pattern=r"^(\+?[0-9]{2,20}|sip:[A-Za-z0-9._+\-]+@[A-Za-z0-9.\-]+(:[0-9]{1,5})?)$")


@dataclass(frozen=True)
class NodeKind:
    model: type[Node]
    code: int | None
    """OMniLeads' destination type code: a CRM answering ``"X,Y"`` names the kind by it (and the node
    by the ``id`` the admin gave it). None: no CRM answer can send calls there, only a node an admin
    wired to it."""


NODE_KINDS: dict[str, NodeKind] = {
    "campaign": NodeKind(Campaign, 1),
    "time": NodeKind(TimeCondition, 2),
    "menu": NodeKind(Menu, 3),
    "hangup": NodeKind(HangupNode, 5),
    "identification": NodeKind(Identification, 9),
    "message": NodeKind(Message, None),
    "voicemail": NodeKind(Voicemail, None),
    "dialplan": NodeKind(Dialplan, None),
    "external": NodeKind(External, None),
    "callback": NodeKind(CallbackRequest, None),
}
"""Every kind of node, each a table of the flow file and the ``kind`` of a destination, in the
order messages list them. A new kind is added here, and its step in ``call_flow.py``."""
KIND_OF_CODE = {kind.code: name for name, kind in NODE_KINDS.items() if kind.code is not None}
