"""Claims on agents, so that app nodes sharing one database never offer an agent two calls.

Before a node rings an agent it claims the agent's row with one conditional UPDATE: free, expired
or already its own. The database decides between nodes racing for the same agent (SQLite runs
writers one at a time; PostgreSQL re-checks the condition on the row a concurrent winner
committed), so the loser's UPDATE matches no row. A claim lasts through ringing, the call and
wrap-up; each carries the offer's token, so a late release of an earlier offer never frees a
later one. A node renews its claims while it runs; a node that died loses them when they expire.

One line across nodes: each node keeps its waiting callers in ``ivr_waiting`` (``SharedLine``),
and a claim made for a caller (``Place``) is granted only if no other node has a caller of the
same campaign ahead of it, by priority then arrival. The node whose caller is ahead takes the
agent at its next look (at most the engine's tick later), so no caller is overtaken by a later
one on another node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Exists

from ivr.store.schema import agent_claims, waiting

log = logging.getLogger("ivr.store")

LEASE_SECONDS = 10.0
RENEW_SECONDS = 3.0

c = agent_claims.c
w = waiting.c


@dataclass(frozen=True)
class Place:
    """The caller a claim is for, as the shared line orders it."""

    campaign: str
    priority: int
    joined_at: datetime


class Claims(Protocol):
    shared: bool
    """Whether other app nodes may hold the agents (else every claim is granted)."""

    async def claim(self, agent: str, token: str, place: Place | None = None) -> bool: ...

    async def release(self, agent: str, token: str) -> None: ...

    async def joined(self, call_id: str, place: Place) -> None: ...

    async def left(self, call_id: str) -> None: ...


class NodeAloneClaims:
    """The only app node (``pbx.apps`` names no other): nobody else rings its agents, and a
    node's own claim never stops it (see AgentClaims.claim), so every claim is granted without
    a database write before the ring."""

    shared = False

    async def claim(self, agent: str, token: str, place: Place | None = None) -> bool:
        return True

    async def release(self, agent: str, token: str) -> None:
        return None

    async def joined(self, call_id: str, place: Place) -> None:
        return None

    async def left(self, call_id: str) -> None:
        return None


class AgentClaims:
    shared = True

    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def claim(self, agent: str, token: str, place: Place | None = None) -> bool:
        """Whether this node now holds the agent for the offer ``token``; for a caller at
        ``place``, only when no other node's caller of its campaign is ahead."""
        now = self.wall()
        values = {"node": self.node, "token": token, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}
        async with self.engine.begin() as connection:
            if place is not None and (await connection.execute(select(self._ahead(place, now)))).scalar():
                return False
            done = await connection.execute(update(agent_claims).where(and_(
                c.agent == agent, or_(c.node.is_(None), c.node == self.node, c.expires_at < now),
            )).values(**values))
            if done.rowcount == 1:
                return True
        try:
            async with self.engine.begin() as connection:
                await connection.execute(insert(agent_claims).values(agent=agent, **values))
        except IntegrityError:
            return False
        return True

    def _ahead(self, place: Place, now: datetime) -> Exists:
        """Whether another node has a live caller of the campaign ahead of ``place``."""
        earlier = and_(w.priority == place.priority, w.joined_at < place.joined_at)
        return exists().where(and_(w.campaign == place.campaign, w.node != self.node, w.expires_at > now,
                                   or_(w.priority < place.priority, earlier)))

    async def release(self, agent: str, token: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(and_(
                c.agent == agent, c.node == self.node, c.token == token,
            )).values(node=None, token=None, expires_at=None))

    async def renew(self) -> None:
        """This node's claims and its callers in the shared line, for another lease."""
        expires = self.wall() + timedelta(seconds=LEASE_SECONDS)
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(c.node == self.node)
                                     .values(expires_at=expires))
            await connection.execute(update(waiting).where(w.node == self.node).values(expires_at=expires))

    async def release_all(self) -> None:
        """At start: whatever an earlier run of this node held is over, and its callers are no
        longer in the shared line (those taken back join it again)."""
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(c.node == self.node)
                                     .values(node=None, token=None, expires_at=None))
            await connection.execute(delete(waiting).where(w.node == self.node))

    async def joined(self, call_id: str, place: Place) -> None:
        """A caller of this node waits: other nodes' claims for later callers wait for it."""
        async with self.engine.begin() as connection:
            await connection.execute(insert(waiting).values(
                call_id=call_id, node=self.node, campaign=place.campaign, priority=place.priority,
                joined_at=place.joined_at, expires_at=self.wall() + timedelta(seconds=LEASE_SECONDS)))

    async def left(self, call_id: str) -> None:
        """The caller was answered or left the line."""
        async with self.engine.begin() as connection:
            await connection.execute(delete(waiting).where(w.call_id == call_id))


async def keep_renewing(claims: AgentClaims) -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await claims.renew()
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent claims of node %s not renewed: %s", claims.node, exc)
