from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.agents import AgentBoard, AgentProfile, State
from ivr.core.distribution.commands import LineEvent
from ivr.core.queue_log import AgentEvents, QueueLogLine, line_of
from ivr.store.migrations import upgrade
from ivr.store.queue_log import QueueLogStore, QueueLogWriter

T = 1765101600.0


def text(event: LineEvent) -> str:
    return line_of(event, T).text()


def test_each_line_event_is_the_app_queue_line_with_its_data_fields() -> None:
    assert text(LineEvent("sales", "c1", "entered", 0, position=2, first_position=2, caller="600")) == (
        "1765101600|c1|sales|NONE|ENTERQUEUE||600|2")
    assert text(LineEvent("sales", "c1", "unanswered", 15.2, "ana", "No Answer", rang=15.234)) == (
        "1765101600|c1|sales|ana|RINGNOANSWER|15234")
    assert text(LineEvent("sales", "c1", "answered", 18.6, "bo", rang=3.4, first_position=2,
                          leg="c1-agent-2")) == "1765101600|c1|sales|bo|CONNECT|19|c1-agent-2|3"
    assert text(LineEvent("sales", "c1", "ended", 18.6, "bo", first_position=2, talked=42.2, by="caller")) == (
        "1765101600|c1|sales|bo|COMPLETECALLER|19|42|2")
    assert text(LineEvent("sales", "c1", "ended", 18.6, "bo", first_position=2, talked=42.2, by="agent")) == (
        "1765101600|c1|sales|bo|COMPLETEAGENT|19|42|2")
    assert text(LineEvent("sales", "c2", "abandoned", 12.4, position=1, first_position=3)) == (
        "1765101600|c2|sales|NONE|ABANDON|1|3|12")
    assert text(LineEvent("sales", "c3", "left", 300, why="no agent within 300 s", position=1, first_position=1,
                          how="timeout")) == "1765101600|c3|sales|NONE|EXITWITHTIMEOUT|1|1|300"
    assert text(LineEvent("sales", "c4", "left", 20.1, why="the caller pressed 0 to leave", position=2,
                          first_position=2, how="key", key="0")) == "1765101600|c4|sales|NONE|EXITWITHKEY|0|2|2|20"
    assert text(LineEvent("sales", "c5", "left", 61, position=1, first_position=1, how="callback")) == (
        "1765101600|c5|sales|NONE|EXITWITHCALLBACK|1|1|61")


def test_a_caller_id_with_a_pipe_cannot_shift_the_fields() -> None:
    assert text(LineEvent("sales", "c1", "entered", 0, position=1, first_position=1, caller="6|0\n0")) == (
        "1765101600|c1|sales|NONE|ENTERQUEUE||6_0_0|1")


def test_agents_log_in_pause_per_campaign_unpause_and_log_off_with_the_time_logged_in() -> None:
    events = AgentEvents()
    lines: list[QueueLogLine] = []
    for state, reason, at in [(State.READY, "", 0), (State.RINGING, "", 10), (State.ON_CALL, "", 12),
                              (State.WRAP_UP, "", 60), (State.PAUSED, "lunch", 70), (State.PAUSED, "meeting", 80),
                              (State.READY, "", 90), (State.PAUSED, "end", 95), (State.LOGGED_OUT, "", 100)]:
        lines += events.lines("ana", state, reason, T + at, "PJSIP/agent-ana", ["sales", "support"])
    assert [line.text() for line in lines] == [
        "1765101600|NONE|NONE|ana|AGENTLOGIN|PJSIP/agent-ana",
        "1765101670|NONE|sales|ana|PAUSE|lunch", "1765101670|NONE|support|ana|PAUSE|lunch",
        "1765101680|NONE|sales|ana|PAUSE|meeting", "1765101680|NONE|support|ana|PAUSE|meeting",
        "1765101690|NONE|sales|ana|UNPAUSE|", "1765101690|NONE|support|ana|UNPAUSE|",
        "1765101695|NONE|sales|ana|PAUSE|end", "1765101695|NONE|support|ana|PAUSE|end",
        "1765101700|NONE|NONE|ana|AGENTLOGOFF|PJSIP/agent-ana|100"]


async def test_the_writer_appends_the_file_and_stores_lines_and_the_agents_history(
        engine: AsyncEngine, tmp_path: Path) -> None:
    await upgrade(engine)
    clock = [T]
    board = AgentBoard({"ana": AgentProfile("ana")}, lambda: clock[0])
    store = QueueLogStore(engine, "ivr")
    path = tmp_path / "log" / "queue_log"
    writer = QueueLogWriter(store, path, board, lambda agent: f"PJSIP/agent-{agent}", lambda agent: ["sales"],
                            lambda: clock[0], gather_seconds=0.01)
    board.listeners.append(writer.agent_changed)
    board.log_in("ana")
    writer.count(LineEvent("sales", "c1", "entered", 0, position=1, first_position=1, caller="600"))
    clock[0] += 30
    board.pause("ana", "lunch")
    writer.count(LineEvent("sales", "c1", "left", 30, position=1, first_position=1, how="key", key="5|6|7|8"))
    await writer.drain()

    written = path.read_text().splitlines()
    assert written == ["1765101600|NONE|NONE|ana|AGENTLOGIN|PJSIP/agent-ana",
                       "1765101600|c1|sales|NONE|ENTERQUEUE||600|1",
                       "1765101630|NONE|sales|ana|PAUSE|lunch",
                       "1765101630|c1|sales|NONE|EXITWITHKEY|5_6_7_8|1|1|30"]
    stored = await store.between(datetime.fromtimestamp(T, UTC), datetime.fromtimestamp(T + 60, UTC))
    assert [line.text() for line in stored] == written
    assert [(c.agent, c.state, c.reason, c.at.timestamp()) for c in await store.history()] == [
        ("ana", "ready", "", T), ("ana", "paused", "lunch", T + 30)]


async def test_a_database_that_refuses_costs_lines_not_the_call(engine: AsyncEngine, tmp_path: Path) -> None:
    """No migration: the table is missing; the file still gets the line, and nothing raises."""
    board = AgentBoard({}, lambda: T)
    writer = QueueLogWriter(QueueLogStore(engine), tmp_path / "queue_log", board, str, lambda agent: [],
                            lambda: T, gather_seconds=0.01)
    writer.count(LineEvent("sales", "c1", "abandoned", 3, position=1, first_position=1))
    await writer.drain()
    assert (tmp_path / "queue_log").read_text() == "1765101600|c1|sales|NONE|ABANDON|1|1|3\n"
