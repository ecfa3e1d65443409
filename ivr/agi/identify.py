"""`ivr agi`: the identification node of the flow file, run from a classic dialplan.

``AGI(agi://127.0.0.1:4573/identify?node=demo)`` runs the very step the ARI app runs (same
prompts, attempts, CRM call and hold music), carried out with AGI commands, and sets the
channel variables the dialplan branches on: IVR_RESULT (identified, not-identified,
unavailable, or error), IVR_DESTINATION (kind:name), IVR_DESTINATION_TYPE (the OMniLeads code),
IVR_DESTINATION_ID, IVR_CUSTOMER_ID, IVR_CRM_<NAME> and, on a CRM failure, IVR_CRM_REASON.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from ivr.agi.wire import AgiChannel, AgiHangup, AgiReply, serve
from ivr.core.caller_id import cut_notes, visible
from ivr.core.commands import (
    AskCrm,
    CancelTimer,
    Play,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
    Warn,
)
from ivr.core.destinations import Destination
from ivr.core.events import CrmAnswered, DigitPressed, Event, PlaybackFinished, TimerFired
from ivr.core.facts import CallFacts
from ivr.core.identify import IdentifyStep
from ivr.core.nodes import Identification
from ivr.core.player import Player
from ivr.core.step import CallContext, Goto, Out
from ivr.crm.service import CrmService
from ivr.flow_holder import FlowHolder
from ivr.listen import PortTaken
from ivr.settings import Settings
from ivr.signals import on_signal
from ivr.store.call_log import CallLogWriter, record_of, writer_for
from ivr.store.engine import database_url, open_engine
from ivr.store.migrations import upgrade

log = logging.getLogger("ivr.agi")

ESCAPE = '"0123456789*#"'
CRM_POLL_MS = 100
"""While the CRM thinks, the channel is watched in slices this long, so a hang-up is seen."""
PLAY_LIMIT = 600.0


class AgiIdentification:
    """One AGI session: feeds the step the events its commands produce, until it routes."""

    def __init__(self, agi: AgiChannel, step: IdentifyStep, crm: CrmService) -> None:
        self.agi = agi
        self.step = step
        self.crm = crm
        self.events: deque[Event] = deque()
        self.timer: tuple[str, float] | None = None
        self.lookup: asyncio.Task[CrmAnswered] | None = None
        self.destination: Destination | None = None

    async def run(self) -> Destination:
        try:
            await self._apply(self.step.start())
            while self.destination is None:
                event = self.events.popleft() if self.events else await self._wait()
                await self._apply(self.step.handle(event))
            return self.destination
        except AgiHangup:
            self.step.hung_up()
            raise
        finally:
            if self.lookup is not None:
                self.lookup.cancel()

    async def _apply(self, outs: list[Out]) -> None:
        for out in outs:
            match out:
                case Play(playback_id=pid, media=media):
                    await self._play(pid, media)
                case StartTimer(name=name, seconds=seconds):
                    self.timer = (name, time.monotonic() + seconds)
                case CancelTimer(name=name) if self.timer and self.timer[0] == name:
                    self.timer = None
                case SetVariable(name=name, value=value):
                    await self.agi.set_variable(name, value)
                case StartMoh(music_class=music_class):
                    await self._checked(f"SET MUSIC ON {music_class}")
                case StopMoh():
                    await self._checked("SET MUSIC OFF")
                case AskCrm():
                    self.lookup = asyncio.create_task(self._ask(out))
                case Warn(message=message):
                    log.warning("%s: %s", self.agi.env.get("channel", "?"), message)
                case Goto(destination=destination):
                    self.destination = destination
                case StopPlayback() | CancelTimer():
                    pass

    async def _ask(self, command: AskCrm) -> CrmAnswered:
        result = await self.crm.ask(command)
        return CrmAnswered(result.answer, result.seconds)

    async def _play(self, playback_id: str, media: tuple[str, ...]) -> None:
        """Play in order; a key pressed stops the rest (barge-in) and is the next event, except
        during the hold prompt, which keys do not stop (the music would not follow)."""
        escape = '""' if self.step.state == "asking" else ESCAPE
        for item in media:
            kind, _, value = item.partition(":")
            if kind == "sound":
                reply = await self._checked(f"STREAM FILE {value} {escape}", PLAY_LIMIT)
            elif kind == "digits":
                reply = await self._checked(f"SAY DIGITS {value} {escape}", PLAY_LIMIT)
            elif kind == "number":
                reply = await self._checked(f"SAY NUMBER {value} {escape}", PLAY_LIMIT)
            else:
                log.warning("%s: %s cannot be played over AGI; skipped", self.agi.env.get("channel"), item)
                continue
            if reply.result not in ("", "0"):
                self.events.append(DigitPressed(chr(int(reply.result))))
                return
        self.events.append(PlaybackFinished(playback_id))

    async def _wait(self) -> Event:
        if self.lookup is not None:
            while not self.lookup.done():
                await self._checked(f"WAIT FOR DIGIT {CRM_POLL_MS}")
            answered = self.lookup.result()
            self.lookup = None
            return answered
        if self.timer is None:
            raise RuntimeError("the identification step waits, but for nothing")
        name, deadline = self.timer
        remaining = max(1, round((deadline - time.monotonic()) * 1000))
        reply = await self._checked(f"WAIT FOR DIGIT {remaining}", remaining / 1000 + 5)
        if reply.result not in ("", "0"):
            return DigitPressed(chr(int(reply.result)))
        self.timer = None
        return TimerFired(name)

    async def _checked(self, line: str, timeout: float = 10.0) -> AgiReply:
        reply = await self.agi.command(line, timeout)
        if reply.result == "-1":
            raise AgiHangup(f"{line.split()[0:2]} answered -1: the channel is gone")
        return reply


def caller_and_did(env: Mapping[str, str]) -> tuple[str, str]:
    r"""The caller id number and the number dialled of the AGI headers, escaped as the ARI app
    escapes them (ivr.stasis.translate): a header line holds no CR or LF, but ESC and the other
    control characters of a SIP From header reach it as they were sent.

    >>> caller_and_did({"callerid": "600\x1b[2J", "extension": "100"})
    ('600\\x1b[2J', '100')
    """
    return visible(env.get("callerid", "")), visible(env.get("extension", ""))


class AgiServer:
    def __init__(self, flows: FlowHolder, crm: CrmService, records: CallLogWriter) -> None:
        self.flows = flows
        self.crm = crm
        self.records = records

    async def handle(self, agi: AgiChannel) -> None:
        name = agi.params.get("node", "")
        flow = self.flows.current
        node = flow.nodes.get(Destination("identification", name))
        if agi.script != "identify" or not isinstance(node, Identification):
            reason = (f"unknown script {agi.script!r}: use agi://HOST:PORT/identify?node=NAME"
                      if agi.script != "identify" else f"no identification node {name!r} in {flow.source}")
            log.warning("%s: %s", agi.env.get("channel", "?"), reason)
            await agi.set_variable("IVR_RESULT", "error")
            await agi.set_variable("IVR_ERROR", reason)
            return
        call_id = agi.env.get("uniqueid", "agi")
        caller, did = caller_and_did(agi.env)
        ctx = CallContext(call_id, flow, Player(call_id), CallFacts(), caller=caller, did=did)
        ctx.facts.nodes.append(f"identification:{name}")
        ctx.facts.notes.extend(cut_notes(caller=caller, did=did))
        started = datetime.now(UTC)
        outcome = "caller hung up"
        try:
            destination = await AgiIdentification(agi, IdentifyStep(name, node, ctx), self.crm).run()
            ctx.facts.destination = str(destination)
            outcome = f"identification done: back to the dialplan with {destination}"
        finally:
            self.records(record_of(ctx.facts, channel_id=call_id, caller=ctx.caller, did=ctx.did,
                                   flow=f"agi:{name}"[:40], started_at=started, answered_at=started,
                                   outcome=outcome))


async def serve_agi(settings: Settings) -> None:
    flows = FlowHolder(settings.flow_path)
    engine = open_engine(database_url(settings))
    await upgrade(engine)
    records = writer_for(settings, engine, "agi")
    crm = CrmService()
    try:
        server = await serve(settings.agi.bind, settings.agi.port, AgiServer(flows, crm, records).handle)
    except OSError as exc:
        await crm.aclose()
        await engine.dispose()
        raise PortTaken("agi.port", settings.agi.bind, settings.agi.port, exc) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    on_signal(signal.SIGHUP, flows.reload)
    log.info("FastAGI: serving agi://%s:%d/identify?node=NAME (%s)", settings.agi.bind,
             settings.agi.port, settings.flow_path)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        await records.drain()
        await crm.aclose()
        await engine.dispose()
