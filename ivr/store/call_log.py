"""One row per call, whatever its end."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import calls

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


class CallLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, record: CallRecord) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(insert(calls).values(**record.__dict__))

    async def recent(self, limit: int = 50) -> list[CallRecord]:
        query = select(*(calls.c[name] for name in CallRecord.__dataclass_fields__))
        query = query.order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_aware(CallRecord(**row)) for row in rows]


def _aware(record: CallRecord) -> CallRecord:
    """SQLite gives back naive datetimes; everything stored is UTC."""
    if record.started_at.tzinfo is not None:
        return record
    return replace(record, started_at=record.started_at.replace(tzinfo=UTC),
                   ended_at=record.ended_at.replace(tzinfo=UTC))


class CallLogWriter:
    """Stores records in the background: a slow or failing database never holds up a call,
    and a record it could not store is written to the log in full instead."""

    def __init__(self, call_log: CallLog) -> None:
        self.call_log = call_log
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self, record: CallRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._write(record))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, record: CallRecord) -> None:
        try:
            await self.call_log.add(record)
        except (SQLAlchemyError, OSError) as exc:
            log.error("call %s: record not stored (%s): %s", record.channel_id, exc, record)

    async def drain(self) -> None:
        await asyncio.gather(*self._pending)
