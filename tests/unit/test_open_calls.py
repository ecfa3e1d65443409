"""Calls in progress on each app node, on SQLite and on PostgreSQL: a call recorded is no longer
open; the calls of a node that stopped renewing are recorded by another node, once; a
restarted node records what its earlier run left but the calls it took back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.store.call_log import CallLog, CallLogWriter, CallRecord, record_of_closed
from ivr.store.migrations import upgrade
from ivr.store.open_calls import LEASE, LOST, OpenCall, OpenCalls, add_open
from ivr.store.schema import calls, calls_open

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def call(channel_id: str, started_at: datetime = NOON) -> OpenCall:
    return OpenCall(channel_id, "600100200", "500", "demo", started_at)


def record(channel_id: str) -> CallRecord:
    return CallRecord(channel_id, "600100200", "500", "demo", NOON, NOON + timedelta(seconds=30), "", "done")


async def open_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.execute(select(calls_open.c.channel_id))).scalars())


async def recorded(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(calls.c.channel_id, calls.c.outcome, calls.c.notes)
                                        .order_by(calls.c.channel_id))
        return [tuple(row) for row in rows]


async def test_a_call_is_open_until_its_record_is_stored(engine: AsyncEngine) -> None:
    await upgrade(engine)
    writer = CallLogWriter(CallLog(engine), gather_seconds=0.01, node="a")
    writer.opened(call("c1"))
    writer.opened(call("c2"))
    await writer.drain()
    assert await open_ids(engine) == {"c1", "c2"}

    writer(record("c1"))
    writer.opened(call("c3"))
    writer(record("c3"))  # ended within the same batch: never noted open
    await writer.drain()

    assert await open_ids(engine) == {"c2"}
    assert [r[0] for r in await recorded(engine)] == ["c1", "c3"]


async def test_the_calls_of_a_node_that_stopped_renewing_are_recorded_by_another_node_once(
        engine: AsyncEngine) -> None:
    await upgrade(engine)
    now = NOON
    engines = [create_async_engine(engine.url) for _ in range(2)]
    try:
        survivors = [OpenCalls(e, node, lambda: now) for e, node in zip(engines, "ac", strict=True)]
        async with engine.begin() as connection:
            await add_open(connection, "b", [call("b1"), call("b2", NOON + timedelta(seconds=5))], NOON)
            await add_open(connection, "a", [call("a1")], NOON)
        now = NOON + LEASE - timedelta(seconds=1)
        assert await survivors[0].lost() == []

        now = NOON + LEASE + timedelta(seconds=1)
        await survivors[0].renew()  # a is alive; b is not
        taken = await asyncio.gather(*(survivor.lost() for survivor in survivors))
    finally:
        for created in engines:
            await created.dispose()

    assert sorted(len(found) for found in taken) == [0, 2]
    closed = next(found for found in taken if found)
    assert [c.call.channel_id for c in closed] == ["b1", "b2"]
    assert {c.node for c in closed} == {"b"} and closed[0].last_seen == NOON
    assert await open_ids(engine) == {"a1"}

    await CallLog(engine).add(*(record_of_closed(c, "a") for c in closed))
    await CallLog(engine).add(*(record_of_closed(c, "c") for c in closed))  # a second closer: no double
    rows = await recorded(engine)
    assert [(r[0], r[1]) for r in rows] == [("b1", LOST), ("b2", LOST)]
    assert "app node b stopped during the call (last seen 12:00:00 UTC); recorded by node a" in rows[0][2]


async def test_a_restarted_node_records_what_its_earlier_run_left_but_the_calls_it_took_back(
        engine: AsyncEngine) -> None:
    await upgrade(engine)
    before = CallLogWriter(CallLog(engine), gather_seconds=0.01, node="a")
    for channel_id in ("left", "taken-back"):
        before.opened(call(channel_id))
    await before.drain()

    boot = NOON + timedelta(minutes=1)
    after = CallLogWriter(CallLog(engine), gather_seconds=0.01, node="a")
    after.opened(call("taken-back", boot))  # adopted by the new run: its first row stays
    after.opened(call("new", boot + timedelta(seconds=1)))
    await after.drain()
    closed = await OpenCalls(engine, "a").left(boot, keep={"taken-back", "new"})

    assert [c.call.channel_id for c in closed] == ["left"]
    assert await open_ids(engine) == {"taken-back", "new"}
    async with engine.connect() as connection:
        first = (await connection.execute(select(calls_open.c.started_at)
                                          .where(calls_open.c.channel_id == "taken-back"))).scalar_one()
        assert first.replace(tzinfo=UTC) == NOON
        assert (await connection.execute(select(func.count()).select_from(calls))).scalar_one() == 0
