"""Calls in progress on each app node, until their record is stored (``ivr_calls_open``).

A node writes a row when a call enters its app (batched with the records, ``CallLogWriter``)
and deletes it in the transaction that stores the call's record. It renews its rows' lease
every ``RENEW_SECONDS``. When a node dies, its rows' lease runs out and another node closes
their records ("app stopped during the call", naming the node), so no call of a dead node is
left without a record. A node that restarts closes the rows its earlier run left, but those of
the calls it takes back. Two nodes closing one row store one record: its key comes from the
call's channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.store.claims import LEASE_SECONDS, RENEW_SECONDS
from ivr.store.schema import calls_open
from ivr.store.values import clipped, utc

log = logging.getLogger("ivr.store")

o = calls_open.c
LEASE = timedelta(seconds=LEASE_SECONDS)
LOST = "app stopped during the call"
"""The outcome of a call whose node stopped before recording it, as a node that stops records
its own calls."""


@dataclass(frozen=True)
class OpenCall:
    channel_id: str
    caller: str
    did: str
    flow: str
    started_at: datetime


@dataclass(frozen=True)
class Closed:
    """A call whose node never recorded it: what the record says of it."""

    call: OpenCall
    node: str
    last_seen: datetime
    """When its node last renewed the row: the call was in progress then."""

    @property
    def record_id(self) -> str:
        return hashlib.md5(f"open:{self.call.channel_id}".encode(), usedforsecurity=False).hexdigest()


async def add_open(connection: AsyncConnection, node: str, calls: Sequence[OpenCall], now: datetime) -> None:
    """Rows for calls that entered the app; a call taken back keeps its first row."""
    if not calls:
        return
    rows = [{"channel_id": call.channel_id, "node": node, "caller": clipped(call.caller, o.caller),
             "did": clipped(call.did, o.did), "flow": clipped(call.flow, o.flow),
             "started_at": utc(call.started_at), "expires_at": now + LEASE} for call in calls]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    await connection.execute(dialect.insert(calls_open).on_conflict_do_nothing(), rows)


async def drop_open(connection: AsyncConnection, channel_ids: Iterable[str]) -> None:
    """The calls are recorded: no longer open."""
    if ids := sorted(set(channel_ids)):
        await connection.execute(delete(calls_open).where(o.channel_id.in_(ids)))


class OpenCalls:
    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def renew(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(calls_open).where(o.node == self.node)
                                     .values(expires_at=self.wall() + LEASE))

    async def lost(self) -> list[Closed]:
        """Takes out the calls of other nodes that stopped renewing their rows."""
        return await self._take(and_(o.node != self.node, o.expires_at < self.wall()))

    async def left(self, before: datetime, keep: set[str]) -> list[Closed]:
        """Takes out the calls an earlier run of this node left (started before ``before``),
        but those in ``keep`` (taken back by this run)."""
        where = and_(o.node == self.node, o.started_at < utc(before))
        return await self._take(and_(where, o.channel_id.notin_(sorted(keep))) if keep else where)

    async def _take(self, where: Any) -> list[Closed]:
        """Deleted and returned in one statement: of two nodes taking one row, one gets it."""
        async with self.engine.begin() as connection:
            taken = await connection.execute(delete(calls_open).where(where).returning(*calls_open.c))
            rows = taken.mappings().all()
        return sorted((Closed(OpenCall(row["channel_id"], row["caller"], row["did"], row["flow"],
                                       utc(row["started_at"])), row["node"], utc(row["expires_at"]) - LEASE)
                       for row in rows), key=lambda closed: (closed.call.started_at, closed.call.channel_id))


async def keep_open_calls(open_calls: OpenCalls, close: Callable[[list[Closed]], Awaitable[None]],
                          others: bool) -> None:
    """Renews this node's rows; with ``others`` (other app nodes share the database), closes
    the calls of nodes that stopped renewing theirs."""
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await open_calls.renew()
            if others and (lost := await open_calls.lost()):
                await close(lost)
        except (SQLAlchemyError, OSError) as exc:
            log.error("calls in progress of node %s not renewed: %s", open_calls.node, exc)
