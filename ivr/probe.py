"""`ivr call`: a test call without a phone.

A Local channel is originated into the inbound context; its caller half sits in a private
Stasis app of ours that sends the DTMF, and everything that happens to the called half is
watched through an all-events subscription: answer, prompts, digits, variables, dialplan steps,
bridges, hang-up cause.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ivr.ari.events import EventStream
from ivr.ari.rest import AriError, AriRest
from ivr.ari.tls import ari_tls
from ivr.core.fields import MEDIA
from ivr.secrets import ari_password
from ivr.settings import Settings

INBOUND_CONTEXT = "ivr-inbound"
EXTEN = re.compile(r"^[0-9+*#][0-9+*#]+$")
CONTEXT = re.compile(r"^[A-Za-z0-9_\-]+$")
DTMF = re.compile(r"^[0-9*#A-Dw]*$")
SendAt = Literal["answer", "prompt-start", "prompt-end"]
NO_PROMPT_GRACE = 3.0
CALLEE_GRACE = 2.0
CONNECT_BUDGET = 15.0


class ProbeError(Exception):
    pass


@dataclass
class CallReport:
    exten: str
    answered: bool = False
    answer_seconds: float | None = None
    prompts: list[str] = field(default_factory=list)
    dtmf_sent: str = ""
    digits_received: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    dialplan: list[str] = field(default_factory=list)
    connected_to: list[str] = field(default_factory=list)
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    duration_seconds: float = 0.0
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate(exten: str, dtmf: str) -> None:
    if not EXTEN.match(exten):
        raise ProbeError(
            f"unknown extension {exten!r}: context {INBOUND_CONTEXT} takes 2 or more of 0-9 + * #"
        )
    if not DTMF.match(dtmf):
        raise ProbeError(f"bad --dtmf {dtmf!r}: allowed are 0-9 * # A-D and w (half a second pause)")


class _Watcher:
    """Folds the events of one test call into a report, and decides when to send the DTMF."""

    def __init__(self, report: CallReport, caller: str, callee: str, send_at: SendAt) -> None:
        self.report = report
        self.caller = caller
        self.callee = callee
        self.send_at = send_at
        self.started = time.monotonic()
        self.answered_at: float | None = None
        self.caller_ready = False
        self.want_send = False
        self.done = False
        self.caller_gone_at: float | None = None

    def fold(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        channel = (event.get("channel") or {}).get("id")
        playback = event.get("playback") or {}
        on_callee = channel == self.callee or playback.get("target_uri") == f"channel:{self.callee}"
        if kind == "StasisStart" and channel == self.caller:
            self.caller_ready = True
            self.want_send |= self.send_at == "answer"
        elif not on_callee:
            self._other(kind, event)
        elif kind == "ChannelStateChange" and event["channel"].get("state") == "Up":
            self._answered()
        elif kind == "PlaybackStarted":
            self.report.prompts.append(str(playback.get("media_uri", "")))
            self.want_send |= self.send_at == "prompt-start"
        elif kind == "PlaybackFinished":
            self.want_send |= self.send_at == "prompt-end"
        elif kind == "ChannelDtmfReceived":
            self.report.digits_received += str(event.get("digit", ""))
        elif kind == "ChannelVarset" and str(event.get("variable", "")).lstrip("_").startswith("IVR_"):
            self.report.variables[str(event["variable"]).lstrip("_")] = str(event.get("value", ""))
        elif kind == "ChannelDialplan":
            self._dialplan(event)
        elif kind == "ChannelEnteredBridge":
            self.report.connected_to.append(f"bridge:{(event.get('bridge') or {}).get('id', '')}")
        elif kind == "ChannelDestroyed":
            self.report.hangup_cause = event.get("cause")
            self.report.hangup_cause_text = str(event.get("cause_txt", ""))
            self.done = True

    def _answered(self) -> None:
        if not self.report.answered:
            self.report.answered = True
            self.answered_at = time.monotonic()
            self.report.answer_seconds = round(self.answered_at - self.started, 3)

    def _dialplan(self, event: dict[str, Any]) -> None:
        place = (event.get("channel") or {}).get("dialplan") or {}
        step = f"{place.get('context')},{place.get('exten')},{place.get('priority')}"
        self.report.dialplan.append(f"{step} {event.get('dialplan_app')}({event.get('dialplan_app_data')})")

    def _other(self, kind: Any, event: dict[str, Any]) -> None:
        """Another channel joining a bridge of ours is whoever answered (an agent, later)."""
        bridge = str((event.get("bridge") or {}).get("id", ""))
        name = (event.get("channel") or {}).get("name", "")
        if kind == "ChannelEnteredBridge" and f"bridge:{bridge}" in self.report.connected_to:
            if name and not name.startswith("Local/"):
                self.report.connected_to.append(str(name))
        if kind == "ChannelDestroyed" and (event.get("channel") or {}).get("id") == self.caller:
            self.caller_gone_at = time.monotonic()

    def finished(self) -> bool:
        """The called side is gone; or our side is, and the called side's end did not follow."""
        gone = self.caller_gone_at
        return self.done or (gone is not None and time.monotonic() - gone > CALLEE_GRACE)

    def should_send(self) -> bool:
        grace = self.answered_at is not None and time.monotonic() - self.answered_at > NO_PROMPT_GRACE
        return self.caller_ready and (self.want_send or grace)


async def place_call(settings: Settings, exten: str, dtmf: str = "", caller_id: str = "ivr-call <100>",
                     timeout: float = 60.0, send_at: SendAt = "prompt-end",
                     context: str = INBOUND_CONTEXT, speak: str = "") -> CallReport:
    """``speak``: media the caller plays into the call from the answer on (``tone:...`` repeats:
    a voice for a voicemail box to record)."""
    validate(exten, dtmf)
    if speak and not re.fullmatch(MEDIA, speak):
        raise ProbeError(f"bad --speak {speak!r}: a media URI such as tone:440 or sound:beep")
    if not CONTEXT.match(context):
        raise ProbeError(f"bad --context {context!r}: letters, digits, _ and - only")
    password = ari_password(settings)
    tls = ari_tls(settings)
    rest = AriRest(settings.ari_url, settings.ari.user, password, settings.ari.request_timeout, tls)
    tag = secrets.token_hex(6)
    app, caller, callee = f"ivr-call-{tag}", f"ivr-call-{tag}-caller", f"ivr-call-{tag}-callee"
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stream = EventStream(settings.ari_url, settings.ari.user, password, app,
                         on_event=events.put_nowait, on_connected=_nothing,
                         subscribe_all=True, startup_timeout=CONNECT_BUDGET, tls=tls)
    reader = asyncio.create_task(stream.run())
    report = CallReport(exten=exten)
    try:
        await _wait_connected(stream, reader)
        try:
            await rest.originate(f"Local/{exten}@{context}/n", app, caller, callee,
                                 caller_id, formats="ulaw", timeout=int(timeout))
        except AriError as exc:
            raise ProbeError(f"cannot call {exten} in {context}: {exc}") from exc
        watcher = _Watcher(report, caller, callee, send_at)
        await _follow(rest, events, watcher, caller, dtmf, timeout, speak)
    finally:
        reader.cancel()
        await _hang_up_quietly(rest, caller)
        await rest.aclose()
    return report


async def _nothing() -> None:
    return None


async def _wait_connected(stream: EventStream, reader: asyncio.Task[None]) -> None:
    waiter = asyncio.create_task(stream.connected.wait())
    await asyncio.wait({waiter, reader}, timeout=CONNECT_BUDGET + 1,
                       return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if reader.done():
        reader.result()
    if not stream.connected.is_set():
        raise ProbeError(f"cannot reach ARI events at {stream.url.split('?')[0]}")


async def _follow(rest: AriRest, events: asyncio.Queue[dict[str, Any]], watcher: _Watcher,
                  caller: str, dtmf: str, timeout: float, speak: str) -> None:
    deadline = time.monotonic() + timeout
    sent, spoken = not dtmf, not speak
    while not watcher.finished():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            watcher.report.timed_out = True
            break
        try:
            watcher.fold(await asyncio.wait_for(events.get(), timeout=min(remaining, 0.25)))
        except TimeoutError:
            pass
        if not spoken and watcher.caller_ready:
            spoken = True
            await rest.play(caller, f"{caller}-speak", (speak,))
        if not sent and watcher.should_send():
            sent = True
            watcher.report.dtmf_sent = dtmf
            await rest.send_dtmf(caller, dtmf)
    watcher.report.duration_seconds = round(time.monotonic() - watcher.started, 3)


async def _hang_up_quietly(rest: AriRest, channel_id: str) -> None:
    try:
        await rest.hangup(channel_id)
    except (AriError, OSError):
        pass
