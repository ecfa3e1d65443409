"""The calls handed to customers' backends: which app node holds each one and the hash of its
control token, so that a control request reaching any node finds the call (and only with the
token a backend was given). Rows stay after the call: a command for it then gets 410, not 404."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import backend_calls
from ivr.store.values import utc

c = backend_calls.c


@dataclass(frozen=True)
class BackendCall:
    call_id: str
    node: str
    node_url: str
    """The API of the node holding the call, where other nodes forward its control requests."""
    campaign: str


class BackendCalls:
    def __init__(self, engine: AsyncEngine, node: str, node_url: str,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.node = node
        self.node_url = node_url
        self.wall = wall

    async def add(self, call_id: str, campaign: str, token: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(backend_calls).where(c.call_id == call_id))
            await connection.execute(insert(backend_calls).values(
                call_id=call_id, node=self.node, node_url=self.node_url, campaign=campaign,
                token_hash=_hash(token), created_at=utc(self.wall())))

    async def find(self, call_id: str, token: str) -> BackendCall | None:
        """The call, when the token is its own."""
        async with self.engine.connect() as connection:
            query = select(backend_calls).where(c.call_id == call_id)
            row = (await connection.execute(query)).mappings().first()
        if row is None or not hmac.compare_digest(row["token_hash"], _hash(token)):
            return None
        return BackendCall(row["call_id"], row["node"], row["node_url"], row["campaign"])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
