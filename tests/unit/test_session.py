"""A call session against a fake ARI that records every request (no Asterisk)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from ivr.core.commands import (
    Answer,
    CancelTimer,
    Command,
    ConnectAgent,
    Finished,
    Hangup,
    JoinCampaign,
    Play,
    RecordMessage,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
    WaitingCall,
)
from ivr.core.events import CallStarted, Event, HungUp, MessageRecorded, TimerFired
from ivr.core.facts import CallFacts
from ivr.logs import JsonFormatter
from ivr.stasis.app import StasisApp
from ivr.stasis.session import CallSession, NoQueues, Queues
from ivr.store.call_log import CallRecord
from tests.unit.fake_ari import Recorder, rest_for


class Scripted:
    """A flow that answers each event with the commands given for its type."""

    def __init__(self, script: dict[type, list[Command]]) -> None:
        self.script = script
        self.seen: list[Event] = []
        self.facts = CallFacts()

    def handle(self, event: Event) -> list[Command]:
        self.seen.append(event)
        if isinstance(event, str):
            raise RuntimeError("boom")
        return self.script.get(type(event), [])


@asynccontextmanager
async def session_for(flow: Scripted, recorder: Recorder,
                      queues: Queues | None = None) -> AsyncIterator[CallSession]:
    async with rest_for(recorder) as rest:
        yield CallSession("c1", flow, rest, epoch=1, queues=queues)


async def test_commands_become_ari_requests_in_order() -> None:
    recorder = Recorder()
    flow = Scripted({CallStarted: [Answer(), SetVariable("IVR_X", "1"), Play("p1", ("sound:a", "sound:b")),
                                   Hangup(), Finished("done")]})
    async with session_for(flow, recorder) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert recorder.requests == [
        "POST /ari/channels/c1/answer?",
        "POST /ari/channels/c1/variable?variable=IVR_X&value=1",
        "POST /ari/channels/c1/play/p1?media=sound%3Aa%2Csound%3Ab",
        "DELETE /ari/channels/c1?reason=normal",
    ]
    assert session.outcome == "done"


async def test_a_restarted_timer_fires_once_and_a_cancelled_one_never() -> None:
    flow = Scripted({CallStarted: [StartTimer("t", 0.05), StartTimer("t", 0.1), StartTimer("u", 0.05),
                                   CancelTimer("u")],
                     TimerFired: [Finished("timer")]})
    async with session_for(flow, Recorder()) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)
    await asyncio.sleep(0.1)

    assert flow.seen == [CallStarted("200", "100", "inbound"), TimerFired("t")]


async def test_a_failing_flow_sends_its_caller_to_the_dialplan_fallback() -> None:
    recorder = Recorder()
    async with session_for(Scripted({}), recorder) as session:
        session.post("not an event")  # type: ignore[arg-type]
        await asyncio.wait_for(session.run(), 2)

    assert recorder.requests == ["POST /ari/channels/c1/continue?context=ivr-fallback&extension=s&priority=1"]
    assert session.outcome == "flow error (RuntimeError: boom); sent to the dialplan fallback"


async def test_a_fault_of_the_app_outside_the_flow_sends_the_caller_to_the_fallback_and_records_why() -> None:
    """Here an adapter's bug (campaigns asked of an app that runs none): whatever raises in a
    call's task, the caller is not left in dead air and the record says what happened."""
    recorder, records = Recorder(), []
    flow = Scripted({CallStarted: [Answer(), JoinCampaign("sales", 5, WaitingCall("600", "100"))]})
    flow.facts.nodes.append("campaign:sales")
    lines = JsonLines()
    logging.getLogger("ivr.call").addHandler(lines)
    try:
        async with rest_for(recorder) as rest:
            session = CallSession("c1", flow, rest, epoch=1, on_record=records.append, queues=NoQueues())
            session.post(CallStarted("600", "100", "inbound"))
            await asyncio.wait_for(session.run(), 2)
    finally:
        logging.getLogger("ivr.call").removeHandler(lines)

    assert recorder.requests == ["POST /ari/channels/c1/answer?",
                                 "POST /ari/channels/c1/continue?context=ivr-fallback&extension=s&priority=1"]
    assert [record.outcome for record in records] == [
        "app error (RuntimeError: this app runs no campaigns); sent to the dialplan fallback"]
    failed = next(line for line in lines.lines if "the app failed" in line["message"])
    assert (failed["call"], failed["node"], failed["campaign"]) == ("c1", "campaign:sales", "sales")


class JsonLines(logging.Handler):
    """Log lines as ``log.format = "json"`` makes them, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.formatter = JsonFormatter()
        self.lines: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_a_vanished_channel_ends_the_session() -> None:
    flow = Scripted({CallStarted: [Answer()], HungUp: [Finished("gone")]})
    async with session_for(flow, Recorder(status=404)) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert flow.seen[-1] == HungUp("channel gone")
    assert session.outcome == "gone"


async def test_a_run_of_variables_is_sent_in_one_request_before_the_next_command() -> None:
    recorder = Recorder()
    flow = Scripted({CallStarted: [SetVariable("IVR_A", "1"), SetVariable("IVR_B", "2"), SetVariable("IVR_A", "3"),
                                   Hangup(), Finished("done")]})
    async with session_for(flow, recorder) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert recorder.requests == ["POST /ari/channels/c1/variable?variable=ARRAY%28IVR_A%2CIVR_B%29&value=1%2C2",
                                 "POST /ari/channels/c1/variable?variable=IVR_A&value=3",
                                 "DELETE /ari/channels/c1?reason=normal"]


class PromptHoldsVariables(Recorder):
    """Answers a variable's request late, as Asterisk does while a prompt plays on the channel."""

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)
        if request.path.endswith("/variable"):
            await asyncio.sleep(0.05)
            self.requests.append("answered the variable")
        return response


async def test_a_prompt_is_sent_once_the_variables_before_it_are_set() -> None:
    recorder = PromptHoldsVariables()
    flow = Scripted({CallStarted: [Answer(), SetVariable("IVR_ENTRY", "200"), Play("p1", ("sound:a",)),
                                   StartTimer("t", 5.0)],
                     HungUp: [Finished("gone")]})
    async with session_for(flow, recorder) as session:
        session.post(CallStarted("200", "100", "inbound"))
        session.post(HungUp("normal"))
        await asyncio.wait_for(session.run(), 2)

    assert recorder.requests == ["POST /ari/channels/c1/answer?",
                                 "POST /ari/channels/c1/variable?variable=IVR_ENTRY&value=200",
                                 "answered the variable",
                                 "POST /ari/channels/c1/play/p1?media=sound%3Aa"]


class Line(NoQueues):
    """A campaign's line that notes which requests Asterisk had received when the call joined."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.joined_after: list[str] | None = None

        self.connected_after: list[str] | None = None

    def join(self, call_id: str, campaign: str, priority: int, call: WaitingCall, waited: float) -> None:
        self.joined_after = list(self.recorder.requests)

    def connect(self, call_id: str) -> None:
        self.connected_after = list(self.recorder.requests)


async def test_a_caller_joins_the_line_before_its_music_and_variables_are_sent() -> None:
    recorder = Recorder()
    flow = Scripted({CallStarted: [StopMoh(), SetVariable("IVR_WAITING", "sales:5:0"), StartMoh("ivr"),
                                   JoinCampaign("sales", 5, WaitingCall("200", "100", "", ()), 0.0),
                                   Hangup(), Finished("done")]})
    line = Line(recorder)
    async with session_for(flow, recorder, line) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert line.joined_after == []
    assert sorted(recorder.requests[:2]) == ["DELETE /ari/channels/c1/moh?",
                                             "POST /ari/channels/c1/variable?variable=IVR_WAITING&value=sales%3A5%3A0"]
    assert recorder.requests[2:] == ["POST /ari/channels/c1/moh?mohClass=ivr", "DELETE /ari/channels/c1?reason=normal"]


class SlowToStopPrompts(Recorder):
    """Answers a prompt's stop late."""

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)
        if request.path.startswith("/ari/playbacks/"):
            await asyncio.sleep(0.05)
            self.requests.append("stopped the prompt")
        return response


async def test_the_agent_is_connected_once_the_callers_prompt_is_stopped() -> None:
    recorder = SlowToStopPrompts()
    flow = Scripted({CallStarted: [StopPlayback("p1"), CancelTimer("announce"), ConnectAgent(),
                                   Hangup(), Finished("done")]})
    line = Line(recorder)
    async with session_for(flow, recorder, line) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert line.connected_after == ["DELETE /ari/playbacks/p1?", "stopped the prompt"]


async def test_a_recording_that_cannot_start_ends_at_once_for_the_flow() -> None:
    flow = Scripted({CallStarted: [RecordMessage("m1", 20.0, 3.0)], MessageRecorded: [Finished("on")]})
    async with session_for(flow, Recorder(status=500)) as session:
        session.post(CallStarted("200", "100", "inbound"))
        await asyncio.wait_for(session.run(), 2)

    assert isinstance(flow.seen[-1], MessageRecorded) and flow.seen[-1].failed, flow.seen


async def test_a_call_handed_over_at_shutdown_is_recorded_as_shutdown_not_a_hang_up() -> None:
    records: list[CallRecord] = []
    flow = Scripted({HungUp: [Finished("caller hung up (left the application)")]})
    async with rest_for(Recorder()) as rest:
        app = StasisApp("ivr", rest, lambda channel_id: flow, connection=lambda: 1, flow_name="f",
                        on_record=records.append)
        app.on_event({"type": "StasisStart", "channel": {"id": "c1"}, "args": ["inbound", "100"]})
        await asyncio.sleep(0)
        handing = asyncio.create_task(app.hand_over())
        # The StasisEnd that the hand-over causes arrives while the app stops.
        app.on_event({"type": "StasisEnd", "channel": {"id": "c1"}})
        await asyncio.wait_for(handing, 2)

    assert [(r.outcome, r.notes) for r in records] == [("shutdown", "handed to the dialplan fallback")]


async def test_a_call_entering_while_the_app_hands_over_is_handed_over_too() -> None:
    records: list[CallRecord] = []
    recorder = Recorder()
    async with rest_for(recorder) as rest:
        app = StasisApp("ivr", rest, lambda channel_id: Scripted({}), connection=lambda: 1, flow_name="f",
                        on_record=records.append)
        app.on_event({"type": "StasisStart", "channel": {"id": "c1"}, "args": ["inbound", "100"]})
        handing = asyncio.create_task(app.hand_over())
        await recorder.arrived.wait()
        app.on_event({"type": "StasisStart", "channel": {"id": "c2"}, "args": ["inbound", "100"]})
        await asyncio.wait_for(handing, 2)

    assert sorted(r.split("?")[0] for r in recorder.requests) == [
        "POST /ari/channels/c1/continue", "POST /ari/channels/c2/continue"]
    assert [r.outcome for r in records] == ["shutdown", "shutdown"]
