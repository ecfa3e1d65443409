"""Agents' presence in the database (logged out, ready, or paused with a reason): a restarted app
finds them as they were, and app nodes sharing the database follow what an agent did through
another node's API. The last writer's row is the agent's presence."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.agents import AgentBoard, State
from ivr.store.schema import agents
from ivr.store.values import utc

log = logging.getLogger("ivr.store")

FOLLOW_SECONDS = 1.0


class Presence(NamedTuple):
    name: str
    state: State
    reason: str
    updated_at: datetime


class AgentStore:
    def __init__(self, engine: AsyncEngine, node: str) -> None:
        self.engine = engine
        self.node = node

    async def save(self, name: str, state: State, reason: str) -> None:
        """One upsert: an update-then-insert let two nodes writing an agent never saved both
        insert, and the loser failed on the primary key (its write lost)."""
        values = {"state": state.value, "reason": reason, "updated_at": datetime.now(UTC), "node": self.node}
        async with self.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            upsert = dialect.insert(agents).values(name=name, **values)
            await connection.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=values))

    async def load(self) -> dict[str, tuple[State, str]]:
        async with self.engine.connect() as connection:
            rows = (await connection.execute(select(agents.c.name, agents.c.state, agents.c.reason))).all()
        return {name: (State(state), reason) for name, state, reason in rows}

    async def written_elsewhere(self, since: datetime) -> list[Presence]:
        """Presences other nodes wrote after ``since``, oldest first."""
        query = select(agents.c.name, agents.c.state, agents.c.reason, agents.c.updated_at).where(
            and_(agents.c.node != self.node, agents.c.updated_at > since)).order_by(agents.c.updated_at)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Presence(name, State(state), reason, utc(at)) for name, state, reason, at in rows]


async def follow_other_nodes(board: AgentBoard, store: AgentStore) -> None:
    """Apply, every second, what agents did through other app nodes' APIs."""
    since = datetime.now(UTC)
    while True:
        await asyncio.sleep(FOLLOW_SECONDS)
        try:
            changes = await store.written_elsewhere(since)
        except (SQLAlchemyError, OSError) as exc:
            log.error("agents' presence from other nodes not read: %s", exc)
            continue
        for change in changes:
            since = max(since, change.updated_at)
            if change.name in board.agents:
                board.follow(change.name, change.state, change.reason)


async def restore(board: AgentBoard, store: AgentStore) -> None:
    """Put each agent back as saved: logged out, paused with its reason, or else ready (an
    automatic pause, being temporary, comes back as ready). Agents never saved stay as they are."""
    for name, (state, reason) in (await store.load()).items():
        if name not in board.agents or state is State.LOGGED_OUT:
            continue
        if board.status(name).state is State.LOGGED_OUT:
            board.log_in(name)
        if state is State.PAUSED and not reason.startswith("auto:"):
            board.pause(name, reason)


class AgentStateWriter:
    """Saves each change of presence in the background, one write at a time and each of the
    presence as it is then, so the last write is the latest; a database that refuses it is logged.
    Made once the board is restored: what it holds then needs no write (an agent never saved
    comes back from the flow file as it is now)."""

    def __init__(self, store: AgentStore, board: AgentBoard) -> None:
        self.store = store
        self.board = board
        self._pending: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Lock()
        self._written: dict[str, tuple[State, str]] = {name: board.presence(name) for name in board.agents}

    def __call__(self, name: str) -> None:
        if self._written.get(name) == (presence := self.board.presence(name)):
            return
        self._written[name] = presence
        task = asyncio.get_running_loop().create_task(self._write(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, name: str) -> None:
        async with self._one_at_a_time:
            state, reason = self.board.presence(name)
            try:
                await self.store.save(name, state, reason)
            except (SQLAlchemyError, OSError) as exc:
                log.error("agent %s: state %s not stored: %s", name, state.value, exc)

    async def drain(self) -> None:
        await asyncio.gather(*self._pending)
