"""An agent's calls as its page lists them: the call records it answered since a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import calls
from ivr.store.values import utc

LIMIT = 200


class AgentCalls:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def since(self, agent: str, moment: datetime) -> list[dict[str, Any]]:
        """Newest first, at most ``LIMIT``."""
        c = calls.c
        query = (select(c.started_at, c.ended_at, c.caller, c.did, c.customer_id, c.outcome, c.destination)
                 .where(c.agent == agent, c.started_at >= utc(moment))
                 .order_by(c.started_at.desc(), c.id.desc()).limit(LIMIT))
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [{**row, "started_at": utc(row["started_at"]).isoformat(),
                 "ended_at": utc(row["ended_at"]).isoformat()} for row in rows]
