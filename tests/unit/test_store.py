"""The call log on both databases: SQLite (embedded) and PostgreSQL (127.0.0.1:5432, `test`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.core.agents import AgentBoard, AgentProfile, AutoPause, State
from ivr.settings import load_settings
from ivr.store.agents import AgentStateWriter, AgentStore, restore
from ivr.store.call_log import CallLog, CallLogWriter, CallRecord
from ivr.store.engine import database_url, open_engine
from ivr.store.migrations import MIGRATIONS, StoreUnavailable, upgrade
from ivr.store.own_agents import OwnAgents


def record(channel: str, minutes: int, outcome: str = "completed") -> CallRecord:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return CallRecord(channel, "200", "100", "demo", start, start + timedelta(seconds=42),
                      "1234", outcome)


async def test_upgrade_creates_the_tables_once(engine: AsyncEngine) -> None:
    assert await upgrade(engine) == MIGRATIONS[-1][0]
    assert await upgrade(engine) == MIGRATIONS[-1][0]
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert {"ivr_schema_version", "ivr_calls"} <= set(tables)


async def test_records_come_back_newest_first_with_their_times(engine: AsyncEngine) -> None:
    await upgrade(engine)
    log = CallLog(engine)
    await log.add(record("a", 0))
    await log.add(record("b", 5, "caller hung up (16)"))

    found = await log.recent()

    assert found == [record("b", 5, "caller hung up (16)"), record("a", 0)]


async def test_a_record_that_cannot_be_stored_is_logged_in_full(
        caplog: pytest.LogCaptureFixture, engine: AsyncEngine) -> None:
    writer = CallLogWriter(CallLog(engine))
    writer(record("no-table", 0))
    await writer.drain()

    assert "call no-table: record not stored" in caplog.text
    assert "digits='1234'" in caplog.text


def test_plain_urls_get_the_asyncio_driver() -> None:
    settings = load_settings(None, {"IVR_DATABASE__URL": "postgresql://u:pw@db/ivr"})

    assert database_url(settings) == "postgresql+asyncpg://u:pw@db/ivr"


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    engine = open_engine("postgresql+asyncpg://ivr:s3cret@127.0.0.1:1/ivr")
    with pytest.raises(StoreUnavailable, match=r"database postgresql\+asyncpg://ivr:\*\*\*@127.0.0.1:1/ivr"):
        await upgrade(engine)
    await engine.dispose()


async def test_the_flow_facts_come_back_and_overlong_text_is_clipped(engine: AsyncEngine) -> None:
    await upgrade(engine)
    log = CallLog(engine)
    full = replace(record("a", 0), answered_at=record("a", 0).started_at, nodes="identification:x > hangup",
                   customer_id="1234", crm_outcome="unavailable", crm_reason="x" * 500, crm_ms=3001,
                   destination="hangup", hangup_cause="hung up by the flow (normal)",
                   variables={"name": "Ana Pérez"}, notes="n", digits="1" * 100)

    await log.add(full)
    (found,) = await log.recent()

    assert found == replace(full, crm_reason="x" * 299 + "…", digits="1" * 63 + "…")


async def test_later_migrations_keep_the_records_of_version_1(engine: AsyncEngine) -> None:
    first, *later = MIGRATIONS
    async with engine.begin() as connection:
        await connection.run_sync(first[2])
        await connection.execute(text(
            "INSERT INTO ivr_calls (channel_id, caller, did, flow, started_at, ended_at, digits, outcome) "
            "VALUES ('old', '200', '100', 'demo', '2026-11-21 09:00:00+00', '2026-11-21 09:00:42+00', "
            "'1234', 'completed')"))
        for _version, _name, step in later:
            await connection.run_sync(step)

    (found,) = await CallLog(engine).recent()

    assert (found.channel_id, found.digits, found.nodes, found.variables) == ("old", "1234", "", {})
    assert found.record_id == ""


async def test_migration_4_keeps_the_agents_saved_by_version_3(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(MIGRATIONS[2][2])
        await connection.execute(text(
            "INSERT INTO ivr_agents (name, state, reason, updated_at) "
            "VALUES ('bo', 'paused', 'lunch', '2026-11-21 09:00:00+00')"))
        await connection.run_sync(MIGRATIONS[3][2])

    assert await AgentStore(engine, "ivr").load() == {"bo": (State.PAUSED, "lunch")}


async def test_agents_come_back_as_they_were_saved(engine: AsyncEngine) -> None:
    await upgrade(engine)
    store = AgentStore(engine, "ivr")
    before = AgentBoard({n: AgentProfile(n) for n in ("ana", "bo", "cy", "di", "ed")}, lambda: 0.0,
                        AutoPause(after=1, seconds=60))
    writer = AgentStateWriter(store, before)
    before.listeners.append(writer)
    for name in ("ana", "bo", "cy", "di"):
        before.log_in(name)
    before.pause("bo", "lunch")
    before.offered("cy")
    before.answered("cy")
    before.offered("di")
    before.not_answered("di")
    await writer.drain()

    after = AgentBoard({n: AgentProfile(n) for n in ("ana", "bo", "cy", "di", "ed")}, lambda: 0.0)
    await restore(after, store)

    states = {n: (after.status(n).state, after.status(n).reason) for n in after.agents}
    assert states == {"ana": (State.READY, ""), "bo": (State.PAUSED, "lunch"), "cy": (State.READY, ""),
                      "di": (State.READY, ""), "ed": (State.LOGGED_OUT, "")}


async def test_a_node_reads_the_presence_other_nodes_wrote(engine: AsyncEngine) -> None:
    await upgrade(engine)
    a, b = AgentStore(engine, "ivr-a"), AgentStore(engine, "ivr-b")
    before = datetime.now(UTC) - timedelta(seconds=1)
    await a.save("ana", State.PAUSED, "lunch")
    await b.save("bo", State.READY, "")

    seen_by_b = await b.written_elsewhere(before)
    seen_by_a = await a.written_elsewhere(before)

    assert [(p.name, p.state, p.reason) for p in seen_by_b] == [("ana", State.PAUSED, "lunch")]
    assert [(p.name, p.state) for p in seen_by_a] == [("bo", State.READY)]
    assert await b.written_elsewhere(seen_by_b[0].updated_at) == []


async def test_a_customers_own_agent_is_kept_changed_and_forgotten(engine: AsyncEngine) -> None:
    await upgrade(engine)
    own = OwnAgents(engine)

    await own.keep("1234", "ana")
    await own.keep("1234", "bo")
    await own.keep("5678", "cy")
    kept = [await own.of("1234"), await own.of("5678"), await own.of("0000")]
    await own.forget("1234")

    assert kept == ["bo", "cy", ""]
    assert await own.of("1234") == ""


async def test_sqlite_runs_in_write_ahead_mode(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.sqlite3'}")
    try:
        async with engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar()
    finally:
        await engine.dispose()

    assert (mode, synchronous) == ("wal", 1)


async def test_one_agent_written_by_two_nodes_at_once_is_stored_without_error(engine: AsyncEngine) -> None:
    """Two nodes saving an agent never saved, at the same moment: an update-then-insert let both
    insert and one failed on the primary key. Each node has its own connections, as processes do."""
    await upgrade(engine)
    engines = [create_async_engine(engine.url) for _ in range(2)]
    a, b = AgentStore(engines[0], "ivr-a"), AgentStore(engines[1], "ivr-b")
    names = [f"agent{i}" for i in range(20)]
    try:
        for name in names:
            await asyncio.gather(a.save(name, State.PAUSED, "lunch"), b.save(name, State.READY, ""))
        await asyncio.gather(*(store.save("ana", State.PAUSED, f"{store.node}-{i}")
                               for i in range(10) for store in (a, b)))
    finally:
        for created in engines:
            await created.dispose()

    saved = await AgentStore(engine, "reader").load()
    assert {saved[name] for name in names} <= {(State.PAUSED, "lunch"), (State.READY, "")}
    assert saved["ana"][1] in {f"{node}-{i}" for node in ("ivr-a", "ivr-b") for i in range(10)}
