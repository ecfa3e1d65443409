"""Call records kept in the local spool while the database is away, replayed once, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.call_log import CallLog, CallLogWriter, CallRecord
from ivr.store.migrations import upgrade
from ivr.store.open_calls import OpenCall
from ivr.store.record_spool import RecordSpool
from ivr.store.schema import calls
from tests.unit.test_backend_events import until


def record(channel: str, minute: int = 0) -> CallRecord:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return CallRecord(channel, "200", "100", "demo", start, start + timedelta(seconds=42), "1234", "done")


class FlakyLog(CallLog):
    """The real call log behind a switch: while ``down``, every write fails like a lost server."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.down = True
        self.refused: set[str] = set()

    async def add(self, *records: CallRecord, opened: Sequence[OpenCall] = (), node: str = "") -> None:
        if self.down:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        if self.refused & {r.channel_id for r in records}:
            raise DataError("INSERT", {}, ValueError("value out of range"))
        await super().add(*records, opened=opened, node=node)


async def stored(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(calls.c.channel_id).order_by(calls.c.id))
        return [row.channel_id for row in rows]


def writer(log: CallLog, path: Path) -> CallLogWriter:
    return CallLogWriter(log, gather_seconds=0.01, spool=RecordSpool(path), retry_seconds=0.01,
                         max_retry_seconds=0.05)


async def test_spool_lines_come_back_in_order_and_go_once_dropped(tmp_path: Path) -> None:
    spool = RecordSpool(tmp_path / "spool.jsonl")
    spool.append([b"1\n", b"2\n"])
    spool.append([b"3\n"])

    lines, end = spool.waiting(2)
    spool.drop(end)

    assert lines == [b"1", b"2"]
    assert spool.depth == 1 and spool.waiting(10)[0] == [b"3"]
    assert RecordSpool(tmp_path / "spool.jsonl").depth == 1
    assert (tmp_path / "spool.jsonl").stat().st_mode & 0o777 == 0o600


async def test_a_line_cut_by_a_crash_stays_apart_from_the_next(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    path.write_bytes(b"1\n{\"channel_id\": \"cu")
    spool = RecordSpool(path)
    assert spool.depth == 1

    spool.append([b"2\n"])

    assert spool.waiting(10)[0] == [b"1", b"{\"channel_id\": \"cu", b"2"]


async def test_records_wait_in_the_spool_and_reach_the_table_in_order(
        engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ivr.store")
    await upgrade(engine)
    log = FlakyLog(engine)
    records = writer(log, tmp_path / "spool.jsonl")
    for n in range(25):
        records(record(f"c{n}", n))
        await asyncio.sleep(0.002 if n % 5 else 0.02)
    await until(lambda: records.spooled == 25, "25 record(s) in the spool")
    assert await stored(engine) == []

    log.down = False
    await until(lambda: records.spooled == 0, "0 record(s) in the spool")
    records(record("after", 99))
    await records.drain()

    assert await stored(engine) == [*(f"c{n}" for n in range(25)), "after"]
    assert "call records: spool depth 25" in caplog.text
    assert "call records: spool depth 0" in caplog.text


async def test_a_crash_after_the_insert_and_before_the_drop_stores_nothing_twice(
        engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await upgrade(engine)
    log = FlakyLog(engine)
    first = writer(log, tmp_path / "spool.jsonl")
    for n in range(15):
        first(record(f"c{n}", n))
    await until(lambda: first.spooled == 15, "15 record(s) in the spool")
    killed = asyncio.Event()

    def crash(_spool: RecordSpool, _end: int) -> None:
        killed.set()
        raise asyncio.CancelledError  # the process dies where the lines would be dropped

    monkeypatch.setattr(RecordSpool, "drop", crash)
    log.down = False
    await asyncio.wait_for(killed.wait(), 5)
    await first.drain()
    monkeypatch.undo()
    assert len(await stored(engine)) == 10  # the first batch was committed

    second = writer(CallLog(engine), tmp_path / "spool.jsonl")
    assert second.spooled == 15
    second.resume()
    await until(lambda: second.spooled == 0, "0 record(s) in the spool")
    await second.drain()

    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(calls))
        keys = await connection.scalar(select(func.count(calls.c.record_id.distinct())))
    assert count == keys == 15
    assert await stored(engine) == [f"c{n}" for n in range(15)]


async def test_a_record_the_database_refuses_is_logged_and_the_rest_replayed(
        engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    await upgrade(engine)
    log = FlakyLog(engine)
    log.refused = {"bad"}
    records = writer(log, tmp_path / "spool.jsonl")
    for channel in ("a", "bad", "b"):
        records(record(channel))
    await until(lambda: records.spooled == 3, "3 record(s) in the spool")

    log.down = False
    await until(lambda: records.spooled == 0, "0 record(s) in the spool")
    await records.drain()

    assert await stored(engine) == ["a", "b"]
    assert "call bad: record refused by the database, dropped from the spool" in caplog.text


async def test_without_a_disk_either_the_record_is_logged_in_full(
        engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = writer(FlakyLog(engine), tmp_path / "spool.jsonl")
    (tmp_path / "spool.jsonl").mkdir()  # the file cannot be written

    records(record("lost"))
    await records.drain()

    assert "call lost: record not stored" in caplog.text
    assert "digits='1234'" in caplog.text
