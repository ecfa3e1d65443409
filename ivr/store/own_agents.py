"""Customers' own agents: who served a customer and, asked after the call, is to serve them again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import own_agents

c = own_agents.c


class OwnAgents:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def of(self, customer_id: str) -> str:
        """The customer's agent, or "" when none is stored."""
        async with self.engine.connect() as connection:
            found = (await connection.execute(select(c.agent).where(c.customer_id == customer_id))).scalar()
        return str(found or "")

    async def keep(self, customer_id: str, agent: str) -> None:
        values = {"agent": agent, "updated_at": datetime.now(UTC)}
        async with self.engine.begin() as connection:
            done = await connection.execute(
                update(own_agents).where(c.customer_id == customer_id).values(**values))
            if done.rowcount == 0:
                await connection.execute(insert(own_agents).values(customer_id=customer_id, **values))

    async def forget(self, customer_id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(own_agents).where(c.customer_id == customer_id))
