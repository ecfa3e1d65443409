"""The callbacks callers left, kept in the database that the app nodes share.

Between app nodes:

- registering counts the number's callbacks and inserts the new one under a lock on the number
  (PostgreSQL: an advisory lock held to the end of the transaction; SQLite: its single writer,
  taken at the start), so two calls from one number never both get past ``max_open`` 1;
- a node *holds* a pending, due callback while it offers it to its agents: one conditional
  UPDATE and a lease it renews, as for agent claims (``ivr.store.claims``);
- the holder *starts an attempt* with one conditional UPDATE, pending to dialing, committed
  before it dials, so each attempt is dialled once; finishing applies to that attempt only.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from sqlalchemy import ColumnElement, RowMapping, String, and_, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.core.callbacks import (
    OPEN,
    Callback,
    CallbackState,
    Limits,
    NewCallback,
    Refusal,
    RetryPolicy,
    schedule,
)
from ivr.store.claims import LEASE_SECONDS
from ivr.store.schema import callbacks
from ivr.store.values import clipped, utc

c = callbacks.c
LEASE = timedelta(seconds=LEASE_SECONDS)
DAY = timedelta(hours=24)
NUMBER_LOCKS = 0x1F0E
"""First key of the PostgreSQL advisory locks on numbers; two-key locks never meet the
migrations' one-key lock."""
PENDING, DIALING = CallbackState.PENDING.value, CallbackState.DIALING.value
_OPEN = sorted(state.value for state in OPEN)
_REQUEST = ("campaign", "number", "caller_id", "customer_id", "message", "call_id", "via")


class UnknownCallback(LookupError):
    pass


class CallbackStore:
    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def register(self, new: NewCallback, policy: RetryPolicy, limits: Limits) -> Callback | Refusal:
        """The callback, committed, or why it is refused (and nothing written)."""
        _check_fits(new)
        now = utc(self.wall())
        async with self._writing(new.number) as connection:
            refusal = await _over_limits(connection, new, limits, now)
            if refusal is not None:
                return refusal
            not_before, expires_at = schedule(policy, now)
            callback = Callback(uuid4().hex, new, CallbackState.PENDING, now, not_before, expires_at,
                                attempts=0, max_attempts=policy.max_attempts, retry_delay=policy.retry_delay)
            await connection.execute(insert(callbacks).values(**_row(callback), updated_at=now))
        return callback

    async def get(self, id: str) -> Callback | None:
        found = await self._read(c.id == id)
        return found[0] if found else None

    async def list(self, campaign: str | None = None, state: CallbackState | None = None,
                   limit: int = 200) -> builtins.list[Callback]:
        """Newest first."""
        where = [c.campaign == campaign] if campaign is not None else []
        where += [c.state == state.value] if state is not None else []
        return await self._read(*where, order=(c.created_at.desc(), c.id), limit=limit)

    async def pending_count(self) -> int:
        async with self.engine.connect() as connection:
            found = await connection.execute(select(func.count()).where(c.state == PENDING))
        return int(found.scalar_one())

    async def open_in(self, campaign: str | None = None) -> builtins.list[Callback]:
        """Pending and dialing callbacks in their line's order: priority, then arrival."""
        where = [c.state.in_(_OPEN)] + ([c.campaign == campaign] if campaign is not None else [])
        return await self._read(*where, order=(c.priority, c.arrived_at, c.created_at, c.id))

    async def abandoned_attempts(self) -> builtins.list[Callback]:
        """Attempts whose node stopped renewing its lease (it died and did not come back), ended
        as failed: retried, or exhausted."""
        now = utc(self.wall())
        stale = await self._read(c.state == DIALING, c.lease_expires_at < now, order=(c.created_at, c.id))
        return [await self.finish_attempt(callback.id, callback.attempts, False,
                                          f"app node {callback.node} stopped during the attempt")
                for callback in stale]

    async def dialing_of_this_node(self) -> builtins.list[Callback]:
        """What this node was dialling when it stopped: each attempt's end was never recorded."""
        return await self._read(c.state == DIALING, c.node == self.node, order=(c.created_at, c.id))

    async def hold(self, id: str) -> bool:
        """Whether this node now holds the pending, due callback for an offer to its agents."""
        now = utc(self.wall())
        taken = _due(now), or_(c.node.is_(None), c.node == self.node, c.lease_expires_at < now)
        return bool(await self._change(and_(c.id == id, *taken),
                                       {"node": self.node, "lease_expires_at": now + LEASE}, now))

    async def renew(self) -> None:
        """Extends the leases of what this node holds or dials."""
        now = utc(self.wall())
        await self._change(and_(c.node == self.node, c.state.in_(_OPEN)),
                           {"lease_expires_at": now + LEASE}, now)

    async def let_go(self, id: str) -> None:
        """Releases a hold that led to no attempt: the agent refused, or nobody was free."""
        await self._change(and_(c.id == id, c.node == self.node, c.state == PENDING),
                           {"node": None, "lease_expires_at": None}, utc(self.wall()))

    async def start_attempt(self, id: str) -> int | None:
        """The number of the attempt this node is now to dial, committed; None when this node does
        not hold it, or it is no longer pending and due (cancelled, rescheduled, expired)."""
        now = utc(self.wall())
        started = await self._change(
            and_(c.id == id, c.node == self.node, _due(now)),
            {"state": DIALING, "attempts": c.attempts + 1, "lease_expires_at": now + LEASE}, now)
        return started[0].attempts if started else None

    async def finish_attempt(self, id: str, attempt: int, completed: bool, reason: str) -> Callback:
        """The callback after its attempt ``attempt``: completed, pending again after its retry
        delay, or exhausted. A finish of another attempt, or a repeated one, changes nothing."""
        now = utc(self.wall())
        async with self._writing() as connection:
            query = select(callbacks).where(c.id == id).with_for_update()
            row = (await connection.execute(query)).mappings().first()
            if row is None:
                raise UnknownCallback(f"callback {id}: not stored, its attempt {attempt} cannot end")
            current = _callback(row)
            if current.state is not CallbackState.DIALING or current.attempts != attempt:
                return current
            finished = await connection.execute(update(callbacks).where(c.id == id).values(
                **_after_attempt(current, completed, now), lease_expires_at=None,
                reason=clipped(reason, c.reason), updated_at=now).returning(*c))
            return _callback(finished.mappings().one())

    async def cancel(self, id: str, reason: str) -> Callback | None:
        """The cancelled callback; None unless it was pending."""
        cancelled = await self._change(
            and_(c.id == id, c.state == PENDING),
            {"state": CallbackState.CANCELLED.value, "reason": clipped(reason, c.reason), "node": None,
             "lease_expires_at": None}, utc(self.wall()))
        return cancelled[0] if cancelled else None

    async def reschedule(self, id: str, not_before: datetime) -> Callback | None:
        """The callback, due from ``not_before`` and held by nobody; None unless it was pending."""
        moved = await self._change(and_(c.id == id, c.state == PENDING),
                                   {"not_before": utc(not_before), "node": None, "lease_expires_at": None},
                                   utc(self.wall()))
        return moved[0] if moved else None

    async def expire(self) -> builtins.list[Callback]:
        """Pending callbacks past their expiry, now expired."""
        now = utc(self.wall())
        return await self._change(
            and_(c.state == PENDING, c.expires_at <= now),
            {"state": CallbackState.EXPIRED.value, "reason": "expired", "node": None,
             "lease_expires_at": None}, now)

    @asynccontextmanager
    async def _writing(self, number: str = "") -> AsyncIterator[AsyncConnection]:
        """A transaction that may read before it writes, safe against other nodes' writers."""
        async with self.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # Python's sqlite3 opens a transaction at the first write only, so a count read
                # before it may be stale by the INSERT; after a plain BEGIN the read keeps its
                # snapshot and, in WAL mode, the write fails at once (database is locked) when
                # another node wrote since. BEGIN IMMEDIATE takes the one writer's lock first,
                # waiting for it up to the busy timeout (5 s, sqlite3's default).
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif number:
                await connection.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"),
                                         {"space": NUMBER_LOCKS, "key": _lock_key(number)})
            yield connection

    async def _change(self, where: ColumnElement[bool], values: dict[str, Any],
                      now: datetime) -> builtins.list[Callback]:
        async with self._writing() as connection:
            rows = await connection.execute(
                update(callbacks).where(where).values(**values, updated_at=now).returning(*c))
            return [_callback(row) for row in rows.mappings()]

    async def _read(self, *where: ColumnElement[bool], order: tuple[Any, ...] = (),
                    limit: int | None = None) -> builtins.list[Callback]:
        query = select(callbacks).where(*where).order_by(*order).limit(limit)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_callback(row) for row in rows]


async def _over_limits(connection: AsyncConnection, new: NewCallback, limits: Limits,
                       now: datetime) -> Refusal | None:
    open_now = await _count(connection, c.number == new.number, c.campaign == new.campaign,
                            c.state.in_(_OPEN))
    if open_now >= limits.max_open_per_number:
        return Refusal("open", f"callback to {new.number} refused: it has {open_now} open in campaign "
                               f"{new.campaign}, at most {limits.max_open_per_number} allowed")
    today = await _count(connection, c.number == new.number, c.created_at > now - DAY)
    if today >= limits.max_per_number_per_day:
        return Refusal("rate", f"callback to {new.number} refused: {today} requested in the last 24 "
                               f"hours, at most {limits.max_per_number_per_day} allowed")
    return None


async def _count(connection: AsyncConnection, *where: ColumnElement[bool]) -> int:
    return int((await connection.execute(select(func.count()).where(*where))).scalar_one())


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(c.state == PENDING, c.not_before <= now, c.expires_at > now)


def _after_attempt(callback: Callback, completed: bool, now: datetime) -> dict[str, Any]:
    if completed:
        return {"state": CallbackState.COMPLETED.value}
    if callback.attempts >= callback.max_attempts:
        return {"state": CallbackState.EXHAUSTED.value}
    return {"state": PENDING, "node": None,
            "not_before": now + timedelta(seconds=callback.retry_delay)}


def _lock_key(number: str) -> int:
    """A signed 32-bit key; two numbers sharing one only wait for each other."""
    return int.from_bytes(hashlib.blake2b(number.encode(), digest_size=4).digest(), "big", signed=True)


def _check_fits(new: NewCallback) -> None:
    for name in _REQUEST:
        value, length = getattr(new, name), cast(String, c[name].type).length or 0
        if len(value) > length:
            raise ValueError(f"callback to {new.number[:20]!r}: {name} has {len(value)} characters, "
                             f"at most {length} fit")


def _row(callback: Callback) -> dict[str, Any]:
    new = callback.request
    return {
        "id": callback.id, **{name: getattr(new, name) for name in _REQUEST},
        "variables": json.dumps(dict(new.variables), ensure_ascii=False), "priority": new.priority,
        "arrived_at": utc(new.arrived_at), "state": callback.state.value,
        "created_at": callback.created_at, "not_before": callback.not_before,
        "expires_at": callback.expires_at, "attempts": callback.attempts,
        "max_attempts": callback.max_attempts, "retry_delay": callback.retry_delay,
        "node": callback.node or None, "lease_expires_at": None, "reason": callback.reason,
    }


def _callback(row: RowMapping) -> Callback:
    new = NewCallback(**{name: row[name] for name in _REQUEST},
                      variables=tuple(json.loads(row["variables"]).items()), priority=row["priority"],
                      arrived_at=utc(row["arrived_at"]))
    return Callback(
        row["id"], new, CallbackState(row["state"]), utc(row["created_at"]), utc(row["not_before"]),
        utc(row["expires_at"]), attempts=row["attempts"], max_attempts=row["max_attempts"],
        retry_delay=float(row["retry_delay"]), node=row["node"] or "", reason=row["reason"],
        held_until=utc(row["lease_expires_at"]) if row["lease_expires_at"] is not None else None)
