"""One call in the app: its events in order, its timers, and its commands carried out over ARI.

Each call runs in its own task, so a slow ARI request or a failing flow affects that call only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.commands import (
    Answer,
    CancelTimer,
    Command,
    ContinueInDialplan,
    Finished,
    Hangup,
    Play,
    SetVariable,
    StartTimer,
    StopPlayback,
)
from ivr.core.events import CallStarted, Event, HungUp, TimerFired
from ivr.store.call_log import CallRecord

log = logging.getLogger("ivr.call")


class Flow(Protocol):
    def handle(self, event: Event) -> list[Command]: ...


RecordSink = Callable[[CallRecord], None]


def _no_sink(record: CallRecord) -> None:
    return None


class CallSession:
    def __init__(self, channel_id: str, flow: Flow, rest: AriRest, epoch: int,
                 flow_name: str = "", on_record: RecordSink = _no_sink) -> None:
        self.channel_id = channel_id
        self.flow = flow
        self.rest = rest
        self.epoch = epoch
        self.flow_name = flow_name
        self.on_record = on_record
        self.outcome: str | None = None
        self.stop_reason = "app stopped during the call"
        self.started: CallStarted | None = None
        self.started_at = datetime.now(UTC)
        self._inbox: asyncio.Queue[Event | tuple[str, int]] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timer_seq: dict[str, int] = {}

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    async def run(self) -> None:
        try:
            while self.outcome is None:
                item = await self._inbox.get()
                event = self._current_timer(item) if isinstance(item, tuple) else item
                if event is not None:
                    await self._handle(event)
        finally:
            for handle in self._timers.values():
                handle.cancel()
            if self.outcome is None:
                self.outcome = self.stop_reason
                self.on_record(self._record(self.outcome, ""))

    def _current_timer(self, item: tuple[str, int]) -> Event | None:
        """A timer that was restarted or cancelled after it fired is stale: drop it."""
        name, seq = item
        return TimerFired(name) if self._timer_seq.get(name) == seq else None

    async def _handle(self, event: Event) -> None:
        if isinstance(event, CallStarted) and self.started is None:
            self.started = event
        try:
            commands = self.flow.handle(event)
        except Exception:
            log.exception("call %s: flow failed on %s; hanging up", self.channel_id, event)
            commands = [Hangup("normal"), Finished("flow error")]
        for command in commands:
            if self.outcome is not None:
                break
            await self._execute(command)

    async def _execute(self, command: Command) -> None:
        try:
            await self._carry_out(command)
        except NotFound:
            if not isinstance(command, (StopPlayback, CancelTimer)):
                log.info("call %s: channel gone during %s", self.channel_id, type(command).__name__)
                self.post(HungUp("channel gone"))
        except (AriError, OSError) as exc:
            log.warning("call %s: %s failed: %s", self.channel_id, type(command).__name__, exc)

    async def _carry_out(self, command: Command) -> None:
        channel = self.channel_id
        match command:
            case Answer():
                await self.rest.answer(channel)
            case Play(playback_id=pid, media=media):
                await self.rest.play(channel, pid, media)
            case StopPlayback(playback_id=pid):
                await self.rest.stop_playback(pid)
            case SetVariable(name=name, value=value):
                await self.rest.set_variable(channel, name, value)
            case StartTimer(name=name, seconds=seconds):
                self._start_timer(name, seconds)
            case CancelTimer(name=name):
                self._cancel_timer(name)
            case ContinueInDialplan(context=context, exten=exten, priority=priority):
                await self.rest.continue_in_dialplan(channel, context, exten, priority)
            case Hangup(reason=reason):
                await self.rest.hangup(channel, reason)
            case Finished(outcome=outcome, digits=digits):
                self.outcome = outcome
                log.info("call %s: finished: %s", channel, outcome)
                self.on_record(self._record(outcome, digits))

    def _record(self, outcome: str, digits: str) -> CallRecord:
        started = self.started
        return CallRecord(
            channel_id=self.channel_id, caller=started.caller if started else "",
            did=started.exten if started else "", flow=self.flow_name,
            started_at=self.started_at, ended_at=datetime.now(UTC), digits=digits, outcome=outcome,
        )

    def _start_timer(self, name: str, seconds: float) -> None:
        self._cancel_timer(name)
        seq = self._timer_seq[name]
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(seconds, self._inbox.put_nowait, (name, seq))

    def _cancel_timer(self, name: str) -> None:
        self._timer_seq[name] = self._timer_seq.get(name, 0) + 1
        if handle := self._timers.pop(name, None):
            handle.cancel()
