"""One row per call, whatever its end."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.facts import CallFacts
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

    async def add(self, *records: CallRecord) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(insert(calls), [_row(record) for record in records])

    async def recent(self, limit: int = 50) -> list[CallRecord]:
        query = select(*(calls.c[name] for name in CallRecord.__dataclass_fields__))
        query = query.order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_aware(CallRecord(**{**row, "variables": json.loads(row["variables"] or "{}")}))
                for row in rows]


def _row(record: CallRecord) -> dict[str, Any]:
    values: dict[str, Any] = asdict(record)
    values["variables"] = json.dumps(record.variables, ensure_ascii=False)
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = clipped(value, calls.c[name])
    return values


def _aware(record: CallRecord) -> CallRecord:
    answered = record.answered_at
    return replace(record, started_at=utc(record.started_at), ended_at=utc(record.ended_at),
                   answered_at=None if answered is None else utc(answered))


class CallLogWriter:
    """Stores records in the background: a slow or failing database never holds up a call,
    and a record it could not store is written to the log in full instead. Records that end
    within ``gather_seconds`` of each other go in one transaction: a commit per call, with the
    agents' presence writes, was a quarter of the app's CPU in the benchmark."""

    def __init__(self, call_log: CallLog, digits: DigitsPolicy = "keep", keep_last: int = 0,
                 gather_seconds: float = 0.25) -> None:
        self.call_log = call_log
        self.digits: DigitsPolicy = digits
        self.keep_last = keep_last
        self.gather_seconds = gather_seconds
        self._waiting: list[CallRecord] = []
        self._writer: asyncio.Task[None] | None = None

    def __call__(self, record: CallRecord) -> None:
        self._waiting.append(masked(record, self.digits, self.keep_last))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.gather_seconds)
            records, self._waiting = self._waiting, []
            try:
                await self.call_log.add(*records)
            except (SQLAlchemyError, OSError) as exc:
                for record in records:
                    log.error("call %s: record not stored (%s): %s", record.channel_id, exc, record)

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer
