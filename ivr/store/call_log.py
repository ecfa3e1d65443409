"""One row per call, whatever its end."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.facts import CallFacts
from ivr.settings import Settings
from ivr.store.open_calls import LOST, Closed, OpenCall, add_open, drop_open
from ivr.store.record_spool import RecordSpool
from ivr.store.schema import calls
from ivr.store.values import clipped, utc

log = logging.getLogger("ivr.store")


@dataclass(frozen=True)
class CallRecord:
    channel_id: str
    caller: str
    did: str
    flow: str
    started_at: datetime
    ended_at: datetime
    digits: str
    outcome: str
    answered_at: datetime | None = None
    nodes: str = ""
    customer_id: str = ""
    crm_outcome: str = ""
    crm_reason: str = ""
    crm_ms: int | None = None
    destination: str = ""
    agent: str = ""
    hangup_cause: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    record_id: str = ""
    """Given by the writer; the key that keeps a record replayed from the spool from being
    stored twice."""


def record_of(facts: CallFacts, *, channel_id: str, caller: str, did: str, flow: str,
              started_at: datetime, answered_at: datetime | None, outcome: str,
              hangup_cause: str = "") -> CallRecord:
    """The record of a call that ends now, from what its flow gathered."""
    return CallRecord(
        channel_id=channel_id, caller=caller, did=did, flow=flow, started_at=started_at,
        ended_at=datetime.now(UTC), digits=",".join(facts.entries), outcome=outcome,
        answered_at=answered_at, nodes=" > ".join(facts.nodes), customer_id=facts.customer_id,
        crm_outcome=facts.crm_outcome, crm_reason=facts.crm_reason,
        crm_ms=None if facts.crm_seconds is None else round(facts.crm_seconds * 1000),
        destination=facts.destination, agent=facts.agent, hangup_cause=hangup_cause,
        variables=dict(facts.variables), notes="; ".join(facts.notes))


DigitsPolicy = Literal["keep", "mask", "drop"]


def masked(record: CallRecord, policy: DigitsPolicy, keep_last: int) -> CallRecord:
    """The record as the admin wants digits stored: as entered, masked but the last few, or not.

    >>> r = masked(CallRecord("c", "", "", "", _T, _T, "12345678,99", "", customer_id="12345678"),
    ...            "mask", 2)
    >>> r.digits, r.customer_id
    ('******78,*9', '******78')
    """
    if policy == "keep":
        return record

    def hide(digits: str) -> str:
        if policy == "drop":
            return ""
        shown = min(keep_last, len(digits) // 2)
        return "*" * (len(digits) - shown) + (digits[len(digits) - shown:] if shown else "")

    entries = ",".join(hide(d) for d in record.digits.split(",")) if record.digits else ""
    return replace(record, digits=entries, customer_id=hide(record.customer_id))


_T = datetime(2026, 1, 1, tzinfo=UTC)


class CallLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, *records: CallRecord, opened: Sequence[OpenCall] = (), node: str = "") -> None:
        """Stores the records, skipping one whose ``record_id`` is stored already, and notes
        the calls ``opened`` on app node ``node`` (ivr.store.open_calls); a recorded call is
        no longer open."""
        async with self.engine.begin() as connection:
            await add_open(connection, node, opened, datetime.now(UTC))
            if records:
                await connection.execute(_insert_once(connection.dialect.name), [_row(r) for r in records])
                await drop_open(connection, (r.channel_id for r in records))

    async def recent(self, limit: int = 50, start: datetime | None = None,
                     end: datetime | None = None) -> list[CallRecord]:
        """The latest records, of those started from ``start`` to before ``end`` when given."""
        query = select(*(calls.c[name] for name in CallRecord.__dataclass_fields__))
        if start is not None and end is not None:
            query = query.where(calls.c.started_at >= start, calls.c.started_at < end)
        query = query.order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_aware(CallRecord(**{**row, "variables": json.loads(row["variables"] or "{}"),
                                     "record_id": row["record_id"] or ""}))
                for row in rows]


def _insert_once(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(calls).on_conflict_do_nothing(index_elements=["record_id"])
    if dialect == "sqlite":
        return sqlite.insert(calls).on_conflict_do_nothing(index_elements=["record_id"])
    return insert(calls)


def _row(record: CallRecord) -> dict[str, Any]:
    values: dict[str, Any] = asdict(record)
    values["variables"] = json.dumps(record.variables, ensure_ascii=False)
    values["record_id"] = record.record_id or None
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = clipped(value, calls.c[name])
    return values


def _aware(record: CallRecord) -> CallRecord:
    answered = record.answered_at
    return replace(record, started_at=utc(record.started_at), ended_at=utc(record.ended_at),
                   answered_at=None if answered is None else utc(answered))


OPEN_GATHER_SECONDS = 0.02


class CallLogWriter:
    """Stores records in the background: a slow or failing database never holds up a call.
    Records that end within ``gather_seconds`` of each other go in one transaction: a commit per
    call, with the agents' presence writes, was a quarter of the app's CPU in the benchmark.

    A batch the database refuses goes to the ``spool`` on local disk, and so does every later
    record while the spool is not empty (so records reach the table in the order they ended);
    a task replays it, retrying ``retry_seconds`` apart, doubled up to ``max_retry_seconds``.
    Without a spool, or when the disk refuses too, a record is written to the log in full."""

    def __init__(self, call_log: CallLog, digits: DigitsPolicy = "keep", keep_last: int = 0,
                 gather_seconds: float = 0.25, spool: RecordSpool | None = None,
                 write_timeout: float = 10.0, retry_seconds: float = 0.5,
                 max_retry_seconds: float = 8.0, node: str = "") -> None:
        """``node``: the app node whose calls in progress ``opened`` notes."""
        self.call_log = call_log
        self.node = node
        self.digits: DigitsPolicy = digits
        self.keep_last = keep_last
        self.gather_seconds = gather_seconds
        self.spool = spool
        self.write_timeout = write_timeout
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self._waiting: list[CallRecord] = []
        self._opening: list[OpenCall] = []
        self._writer: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None

    @property
    def spooled(self) -> int:
        """How many records wait in the spool for the database (for metrics)."""
        return 0 if self.spool is None else self.spool.depth

    def __call__(self, record: CallRecord) -> None:
        record = replace(masked(record, self.digits, self.keep_last),
                         record_id=record.record_id or uuid.uuid4().hex)
        self._waiting.append(record)
        self._wake()

    def opened(self, call: OpenCall) -> None:
        """A call entered the app: noted in the database until its record is stored, so that
        another node records it if this one dies (ivr.store.open_calls)."""
        self._opening.append(call)
        self._wake()

    def _wake(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def resume(self) -> None:
        """Replays what an earlier run left in the spool."""
        if self.spooled:
            self._replay_soon()

    async def _write(self) -> None:
        while self._waiting or self._opening:
            # A call noted late is a call a crash would leave unrecorded.
            await asyncio.sleep(OPEN_GATHER_SECONDS if self._opening else self.gather_seconds)
            records, self._waiting = self._waiting, []
            ended = {record.channel_id for record in records}
            opened = [call for call in self._opening if call.channel_id not in ended]
            self._opening = []
            if self.spooled:
                self._to_spool(records, "records spooled before them wait")
                continue
            try:
                async with asyncio.timeout(self.write_timeout):
                    await self.call_log.add(*records, opened=opened, node=self.node)
            except Exception as exc:  # a driver's own error too: asyncpg's escape SQLAlchemy's wrapping
                # The calls opened are not noted: were this node to die, nobody would record them.
                self._to_spool(records, f"{type(exc).__name__}: {exc}")

    def _to_spool(self, records: list[CallRecord], why: str) -> None:
        if not records:
            return
        try:
            if self.spool is None:
                raise OSError("no spool")
            self.spool.append([_line_of(record) for record in records])
        except OSError as exc:
            for record in records:
                log.error("call %s: record not stored (%s; %s): %s", record.channel_id, why, exc, record)
            return
        for record in records:
            log.warning("call %s: record spooled (%s)", record.channel_id, why)
        self._replay_soon()

    def _replay_soon(self) -> None:
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.get_running_loop().create_task(self._replay(), name="record-spool")

    async def _replay(self) -> None:
        pause = self.retry_seconds
        while self.spool is not None and self.spool.depth:
            try:
                await self._replay_batch(self.spool)
                pause = self.retry_seconds
            except Exception as exc:  # whatever the driver raises, the spool stays and is tried again
                log.info("call records: spool of %d waits for the database (%s: %s); again in %.1f s",
                         self.spool.depth, type(exc).__name__, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.max_retry_seconds)

    async def _replay_batch(self, spool: RecordSpool) -> None:
        lines, end = spool.waiting(REPLAY_BATCH)
        records = [record for record in map(_record_of_line, lines) if record is not None]
        async with asyncio.timeout(self.write_timeout):
            try:
                if records:
                    await self.call_log.add(*records)
            except SQLAlchemyError as exc:
                if _unreachable(exc):
                    raise
                await self._one_by_one(records)
        spool.drop(end)

    async def _one_by_one(self, records: list[CallRecord]) -> None:
        """A batch the database refuses although it answers: the record it cannot take is
        logged in full and dropped, the others stored."""
        for record in records:
            try:
                await self.call_log.add(record)
            except SQLAlchemyError as exc:
                if _unreachable(exc):
                    raise
                log.error("call %s: record refused by the database, dropped from the spool (%s): %s",
                          record.channel_id, exc, record)

    async def drain(self) -> None:
        """Waits for the records in hand; the spool's replay stops (the next run goes on)."""
        if self._writer is not None:
            await self._writer
        if self._replayer is not None:
            self._replayer.cancel()
            await asyncio.gather(self._replayer, return_exceptions=True)


def _unreachable(exc: SQLAlchemyError) -> bool:
    """The database is away (worth waiting for), rather than refusing these records."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout)


REPLAY_BATCH = 10


def writer_for(settings: Settings, engine: AsyncEngine, process: str) -> CallLogWriter:
    """The records' writer of an app process, with its spool in the state folder, replaying
    what an earlier run of the same ``process`` left there."""
    spool = RecordSpool(settings.state_path / "spool" / f"call-records-{process}.jsonl")
    writer = CallLogWriter(CallLog(engine), settings.records.digits, settings.records.keep_last,
                           spool=spool, node=process)
    writer.resume()
    return writer

def record_of_closed(closed: Closed, by: str) -> CallRecord:
    """The record of a call whose app node stopped before recording it, closed by node ``by``."""
    call = closed.call
    note = (f"app node {closed.node} stopped during the call (last seen {closed.last_seen:%H:%M:%S} UTC); "
            f"recorded by node {by}")
    return CallRecord(call.channel_id, call.caller, call.did, call.flow, call.started_at,
                      max(closed.last_seen, call.started_at), "", LOST, notes=note,
                      record_id=closed.record_id)


TIMES = ("started_at", "ended_at", "answered_at")


def _line_of(record: CallRecord) -> bytes:
    """A record as one line of the spool.

    >>> r = CallRecord("c1", "200", "100", "demo", _T, _T, "12", "done", record_id="r1")
    >>> _line_of(r)[:40], _record_of_line(_line_of(r)) == r
    (b'{"channel_id": "c1", "caller": "200", "d', True)
    """
    values: dict[str, Any] = asdict(record)
    for name in TIMES:
        values[name] = None if values[name] is None else values[name].isoformat()
    return json.dumps(values, ensure_ascii=False).encode() + b"\n"


def _record_of_line(line: bytes) -> CallRecord | None:
    try:
        values: dict[str, Any] = json.loads(line)
        for name in TIMES:
            values[name] = None if values[name] is None else datetime.fromisoformat(values[name])
        return CallRecord(**values)
    except (ValueError, TypeError, KeyError) as exc:
        log.error("call records: a spool line is not a record, skipped (%s): %r", exc, line)
        return None
