"""Call events of backend-run campaigns, kept until the customer's backend has acknowledged them.

Adding an event is one insert, so a backend that is down never holds up a call; the node that
added it delivers it later (``ivr.backend.delivery``). A call's events are numbered from 1
(``seq``) and handed out strictly in that order: only the lowest undelivered one of a call is
ever due, so an event that keeps failing holds back its own call's later events and nobody
else's. Delivery is at least once; the backend de-duplicates on the event id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.store.schema import backend_events
from ivr.store.values import clipped, utc

c = backend_events.c
RESERVED = ("id", "type", "call", "seq", "at", "campaign")
"""The keys every event's body starts with, which its data may not replace."""
ADD_TRIES = 5


@dataclass(frozen=True)
class PendingEvent:
    id: str
    call_id: str
    seq: int
    campaign: str
    url: str
    body: str
    attempts: int


class EventOutbox:
    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def add(self, call_id: str, campaign: str, url: str, type: str, data: Mapping[str, Any]) -> str:
        """The new event's id. Its seq is the call's highest plus one; should another writer take
        that number first, the unique (call_id, seq) refuses the insert and it is counted again."""
        clash = sorted(set(RESERVED) & set(data))
        if clash:
            raise ValueError(f"event {type!r} of call {call_id}: data may not set {', '.join(clash)}")
        id, tries = uuid.uuid4().hex, ADD_TRIES
        while True:
            try:
                async with self.engine.begin() as connection:
                    await self._insert(connection, id, call_id, campaign, url, type, data)
                return id
            except IntegrityError:
                tries -= 1
                if not tries:
                    raise

    async def due(self, limit: int = 50) -> list[PendingEvent]:
        """This node's events to send now, oldest first: each the first undelivered of its call."""
        earlier = backend_events.alias("earlier")
        before = select(earlier.c.id).where(and_(
            earlier.c.call_id == c.call_id, earlier.c.delivered_at.is_(None), earlier.c.seq < c.seq))
        query = select(backend_events).where(and_(
            c.node == self.node, c.delivered_at.is_(None), c.next_at <= utc(self.wall()), ~before.exists(),
        )).order_by(c.created_at, c.call_id, c.seq).limit(limit)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [PendingEvent(row["id"], row["call_id"], row["seq"], row["campaign"], row["url"], row["body"],
                             row["attempts"]) for row in rows]

    async def delivered(self, id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(backend_events).where(and_(c.id == id, c.delivered_at.is_(None)))
                                     .values(delivered_at=utc(self.wall())))

    async def failed(self, id: str, error: str, retry_at: datetime) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(backend_events).where(c.id == id).values(
                attempts=c.attempts + 1, last_error=clipped(error, c.last_error), next_at=utc(retry_at)))

    async def pending_count(self) -> int:
        """This node's events not delivered yet."""
        query = select(func.count()).select_from(backend_events).where(
            and_(c.node == self.node, c.delivered_at.is_(None)))
        async with self.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def _insert(self, connection: AsyncConnection, id: str, call_id: str, campaign: str, url: str,
                      type: str, data: Mapping[str, Any]) -> None:
        last = select(func.max(c.seq)).where(c.call_id == call_id)
        seq = int((await connection.execute(last)).scalar() or 0) + 1
        now = utc(self.wall())
        at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"id": id, "type": type, "call": call_id, "seq": seq, "at": at, "campaign": campaign, **data}
        await connection.execute(insert(backend_events).values(
            id=id, node=self.node, call_id=call_id, seq=seq, campaign=campaign, url=url,
            body=json.dumps(body, ensure_ascii=False), created_at=now, next_at=now, attempts=0,
            delivered_at=None, last_error=""))
