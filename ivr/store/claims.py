"""Claims on agents, so that app nodes sharing one database never offer an agent two calls.

Before a node rings an agent it claims the agent's row with one conditional UPDATE: free, expired
or already its own. The database decides between nodes racing for the same agent (SQLite runs
writers one at a time; PostgreSQL re-checks the condition on the row a concurrent winner
committed), so the loser's UPDATE matches no row. A claim lasts through ringing, the call and
wrap-up; each carries the offer's token, so a late release of an earlier offer never frees a
later one. A node renews its claims while it runs; a node that died loses them when they expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, insert, or_, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import agent_claims

log = logging.getLogger("ivr.store")

LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0

c = agent_claims.c


class Claims(Protocol):
    shared: bool
    """Whether other app nodes may hold the agents (else every claim is granted)."""

    async def claim(self, agent: str, token: str) -> bool: ...

    async def release(self, agent: str, token: str) -> None: ...


class NodeAloneClaims:
    """The only app node (``pbx.apps`` names no other): nobody else rings its agents, and a
    node's own claim never stops it (see AgentClaims.claim), so every claim is granted without
    a database write before the ring."""

    shared = False

    async def claim(self, agent: str, token: str) -> bool:
        return True

    async def release(self, agent: str, token: str) -> None:
        return None


class AgentClaims:
    shared = True

    def __init__(self, engine: AsyncEngine, node: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.wall = wall

    async def claim(self, agent: str, token: str) -> bool:
        """Whether this node now holds the agent for the offer ``token``."""
        now = self.wall()
        values = {"node": self.node, "token": token, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}
        async with self.engine.begin() as connection:
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

    async def release(self, agent: str, token: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(and_(
                c.agent == agent, c.node == self.node, c.token == token,
            )).values(node=None, token=None, expires_at=None))

    async def renew(self) -> None:
        expires = self.wall() + timedelta(seconds=LEASE_SECONDS)
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(c.node == self.node)
                                     .values(expires_at=expires))

    async def release_all(self) -> None:
        """At start: whatever an earlier run of this node held is over."""
        async with self.engine.begin() as connection:
            await connection.execute(update(agent_claims).where(c.node == self.node)
                                     .values(node=None, token=None, expires_at=None))


async def keep_renewing(claims: AgentClaims) -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await claims.renew()
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent claims of node %s not renewed: %s", claims.node, exc)
