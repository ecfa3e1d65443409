"""One call in the app: its events in order, its timers, and its commands carried out over ARI.

Each call runs in its own task, so a slow ARI request or a failing flow affects that call only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from ivr import logs
from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.commands import (
    Answer,
    AskCrm,
    AskPosition,
    CancelTimer,
    Command,
    ConnectAgent,
    ContinueInDialplan,
    ExitKind,
    Finished,
    Hangup,
    JoinCampaign,
    LeaveCampaign,
    Play,
    RecordMessage,
    RegisterCallback,
    RememberAgent,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
    WaitingCall,
    Warn,
)
from ivr.core.crm_answer import Unavailable
from ivr.core.events import (
    CallbackRegistered,
    CallStarted,
    CrmAnswered,
    Event,
    HungUp,
    MessageRecorded,
    QueuePosition,
    TimerFired,
)
from ivr.core.facts import CallFacts
from ivr.crm.client import CrmResult
from ivr.stasis.batches import LOCAL, SetVariables, batches, requests_of
from ivr.store.call_log import CallRecord, record_of
from ivr.store.open_calls import LOST

log = logging.getLogger("ivr.call")

FALLBACK = ("ivr-fallback", "s", 1)
"""The dialplan's fallback (the bundled PBX's ``[ivr-fallback]``, ``pbx.fallback``): where a
caller goes when the app cannot serve it."""


class CallHandler(Protocol):
    @property
    def facts(self) -> CallFacts: ...

    def handle(self, event: Event) -> list[Command]: ...


class Crm(Protocol):
    async def ask(self, command: AskCrm) -> CrmResult: ...


class Queues(Protocol):
    def join(self, call_id: str, campaign: str, priority: int,
             call: WaitingCall, waited: float) -> None: ...

    def leave(self, call_id: str, why: str = "", how: ExitKind = "sent", key: str = "") -> None: ...

    def connect(self, call_id: str) -> None: ...

    def position(self, call_id: str) -> QueuePosition | None: ...

    def remember(self, customer_id: str, agent: str) -> None: ...

    async def register_callback(self, command: RegisterCallback) -> CallbackRegistered: ...


class NoQueues:
    def join(self, call_id: str, campaign: str, priority: int,
             call: WaitingCall, waited: float) -> None:
        raise RuntimeError("this app runs no campaigns")

    def leave(self, call_id: str, why: str = "", how: ExitKind = "sent", key: str = "") -> None:
        return None

    def connect(self, call_id: str) -> None:
        return None

    def position(self, call_id: str) -> QueuePosition | None:
        return None

    def remember(self, customer_id: str, agent: str) -> None:
        return None

    async def register_callback(self, command: RegisterCallback) -> CallbackRegistered:
        return CallbackRegistered(failed="this app runs no campaigns")


RecordSink = Callable[[CallRecord], None]


def no_record(record: CallRecord) -> None:
    return None


class _NoCrm:
    async def ask(self, command: AskCrm) -> CrmResult:
        raise RuntimeError("this app has no CRM service")


class CallSession:
    def __init__(self, channel_id: str, flow: CallHandler, rest: AriRest, epoch: int,
                 flow_name: str = "", on_record: RecordSink = no_record, crm: Crm | None = None,
                 queues: Queues | None = None) -> None:
        self.channel_id = channel_id
        self.flow = flow
        self.rest = rest
        self.epoch = epoch
        self.flow_name = flow_name
        self.on_record = on_record
        self.crm = crm or _NoCrm()
        self.queues = queues or NoQueues()
        self.outcome: str | None = None
        self.stop_reason = LOST
        self.stop_note = ""
        self.started: CallStarted | None = None
        self.started_at = datetime.now(UTC)
        self.answered_at: datetime | None = None
        self.hangup_cause = ""
        self._lookup: asyncio.Task[None] | None = None
        self._registration: asyncio.Task[None] | None = None
        """Not cancelled when the caller hangs up: a request being stored is stored."""
        self._inbox: asyncio.Queue[Event | tuple[str, int]] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timer_seq: dict[str, int] = {}
        self._node = ""
        """The node the call is in, as the log's JSON lines name it."""

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def shut_down(self, note: str) -> None:
        """The app stops and has let the call go (``note`` says where): the events that follow,
        such as the StasisEnd of a hand-over, are not the caller's doing; the record, written
        when the task is cancelled, says "shutdown"."""
        self.stop_reason = "shutdown"
        self.stop_note = note

    async def run(self) -> None:
        try:
            while self.outcome is None:
                item = await self._inbox.get()
                if self.stop_note:
                    continue
                event = self._current_timer(item) if isinstance(item, tuple) else item
                if event is not None:
                    await self._handle(event)
        except Exception as exc:  # a fault of the app, whatever it is: the caller is not left in it
            log.exception("call %s: the app failed; handing the caller to the dialplan fallback",
                          self.channel_id)
            self.outcome = f"app error ({type(exc).__name__}: {exc}); sent to the dialplan fallback"
            self.on_record(self._record(self.outcome, self.flow.facts))
            await self._to_fallback()
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._cancel_lookup()
            self.queues.leave(self.channel_id)
            if self.outcome is None:
                self.outcome = self.stop_reason
                self.on_record(self._record(self.outcome, self.flow.facts))

    async def _to_fallback(self) -> None:
        try:
            await self.rest.continue_in_dialplan(self.channel_id, *FALLBACK)
        except (AriError, OSError) as exc:
            log.warning("call %s: not handed to the fallback either: %s", self.channel_id, exc)

    def _current_timer(self, item: tuple[str, int]) -> Event | None:
        """A timer that was restarted or cancelled after it fired is stale: drop it."""
        name, seq = item
        return TimerFired(name) if self._timer_seq.get(name) == seq else None

    async def _handle(self, event: Event) -> None:
        if isinstance(event, CallStarted) and self.started is None:
            self.started = event
        if isinstance(event, HungUp):
            self.hangup_cause = self.hangup_cause or event.cause
            self._cancel_lookup()
        try:
            commands = self.flow.handle(event)
        except Exception as exc:  # the flow's fault: the caller goes to the fallback, as for any fault
            log.exception("call %s: flow failed on %s; handing the caller to the dialplan fallback",
                          self.channel_id, event)
            commands = [ContinueInDialplan(*FALLBACK),
                        Finished(f"flow error ({type(exc).__name__}: {exc}); sent to the dialplan fallback",
                                 self.flow.facts)]
        if (nodes := self.flow.facts.nodes) and nodes[-1] != self._node:
            self._node = nodes[-1]
            logs.bind(node=self._node)
        for batch in batches(commands):
            if self.outcome is not None:
                break
            for command in batch:
                if isinstance(command, LOCAL):
                    await self._execute(command)
            requests = requests_of(batch)
            if len(requests) == 1:  # awaited here: gather would make a task of it
                await self._execute(requests[0])
            elif requests:
                await asyncio.gather(*(self._execute(c) for c in requests))

    async def _execute(self, command: Command | SetVariables) -> None:
        try:
            await self._carry_out(command)
        except NotFound:
            if not isinstance(command, (StopPlayback, CancelTimer)):
                log.info("call %s: channel gone during %s", self.channel_id, type(command).__name__)
                self.post(HungUp("channel gone"))
        except (AriError, OSError) as exc:
            log.warning("call %s: %s failed: %s", self.channel_id, type(command).__name__, exc)

    async def _carry_out(self, command: Command | SetVariables) -> None:
        channel = self.channel_id
        match command:
            case Answer():
                await self.rest.answer(channel)
                self.answered_at = datetime.now(UTC)
            case Play(playback_id=pid, media=media):
                await self.rest.play(channel, pid, media)
            case StopPlayback(playback_id=pid):
                await self.rest.stop_playback(pid)
            case SetVariables(pairs=pairs):
                await self.rest.set_variables(channel, pairs)
            case StartTimer(name=name, seconds=seconds):
                self._start_timer(name, seconds)
            case CancelTimer(name=name):
                self._cancel_timer(name)
            case ContinueInDialplan(context=context, exten=exten, priority=priority):
                await self.rest.continue_in_dialplan(channel, context, exten, priority)
            case StartMoh(music_class=music_class):
                await self.rest.start_moh(channel, music_class)
            case StopMoh():
                await self.rest.stop_moh(channel)
            case AskCrm():
                self._start_lookup(command)
            case JoinCampaign(campaign=campaign, priority=priority, call=call, waited=waited):
                logs.bind(campaign=campaign)
                self.queues.join(channel, campaign, priority, call, waited)
            case LeaveCampaign(why=why, how=how, key=key):
                self.queues.leave(channel, why, how, key)
            case ConnectAgent():
                self.queues.connect(channel)
            case AskPosition():
                if (where := self.queues.position(channel)) is not None:
                    self.post(where)
            case RememberAgent(customer_id=customer_id, agent=agent):
                self.queues.remember(customer_id, agent)
            case RecordMessage(name=name, max_seconds=max_seconds, silence_seconds=silence):
                try:
                    await self.rest.record(channel, name, max_seconds, silence)
                except NotFound:
                    raise
                except (AriError, OSError) as exc:
                    # No recording, so no event to end it: the flow goes on without a message.
                    log.warning("call %s: recording %s not started: %s", channel, name, exc)
                    self.post(MessageRecorded(name, failed=str(exc)[:200]))
            case RegisterCallback():
                self._spawn_registration(command)
            case Warn(message=message):
                log.warning("call %s: %s", channel, message)
            case Hangup(reason=reason):
                self.hangup_cause = self.hangup_cause or f"hung up by the flow ({reason})"
                await self.rest.hangup(channel, reason)
            case Finished(outcome=outcome, facts=facts):
                self.outcome = outcome
                log.info("call %s: finished: %s", channel, outcome)
                self.on_record(self._record(outcome, facts))

    def _start_lookup(self, command: AskCrm) -> None:
        async def lookup() -> None:
            try:
                result = await self.crm.ask(command)
            except Exception as exc:
                log.exception("call %s: CRM lookup failed inside the app", self.channel_id)
                result = CrmResult(Unavailable(f"internal error: {type(exc).__name__}: {exc}"), 0.0)
            log.info("call %s: CRM %s answered in %.0f ms: %s", self.channel_id, command.url,
                     result.seconds * 1000, result.answer)
            self.post(CrmAnswered(result.answer, result.seconds))

        self._cancel_lookup()
        self._lookup = asyncio.create_task(lookup(), name=f"crm-{self.channel_id}")

    def _spawn_registration(self, command: RegisterCallback) -> None:
        async def register() -> None:
            try:
                answer = await self.queues.register_callback(command)
            except Exception as exc:
                log.exception("call %s: the callback request could not be stored", self.channel_id)
                answer = CallbackRegistered(failed=f"internal error: {type(exc).__name__}")
            self.post(answer)

        self._registration = asyncio.create_task(register(), name=f"callback-{self.channel_id}")

    def _cancel_lookup(self) -> None:
        if self._lookup is not None and not self._lookup.done():
            self._lookup.cancel()
            log.info("call %s: CRM lookup cancelled: the caller hung up", self.channel_id)
        self._lookup = None

    def _record(self, outcome: str, facts: CallFacts) -> CallRecord:
        started = self.started
        if self.stop_note:
            facts = replace(facts, notes=[*facts.notes, self.stop_note])
        return record_of(facts, channel_id=self.channel_id, caller=started.caller if started else "",
                         did=started.exten if started else "", flow=self.flow_name,
                         started_at=self.started_at, answered_at=self.answered_at, outcome=outcome,
                         hangup_cause=self.hangup_cause)

    def _start_timer(self, name: str, seconds: float) -> None:
        self._cancel_timer(name)
        seq = self._timer_seq[name]
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(seconds, self._inbox.put_nowait, (name, seq))

    def _cancel_timer(self, name: str) -> None:
        self._timer_seq[name] = self._timer_seq.get(name, 0) + 1
        if handle := self._timers.pop(name, None):
            handle.cancel()
