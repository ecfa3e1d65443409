"""Agents' states in the database, so that a restarted app finds them logged in or paused as
they were (ringing, on a call or in wrap-up come back as ready: calls do not outlive it)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.agents import AgentBoard, State
from ivr.store.schema import agents

log = logging.getLogger("ivr.store")

class AgentStore:
    def __init__(self, engine: AsyncEngine, node: str) -> None:
        self.engine = engine
        self.node = node

    async def save(self, name: str, state: State, reason: str) -> None:
        values = {"state": state.value, "reason": reason, "updated_at": datetime.now(UTC), "node": self.node}
        async with self.engine.begin() as connection:
            done = await connection.execute(update(agents).where(agents.c.name == name).values(**values))
            if done.rowcount == 0:
                await connection.execute(insert(agents).values(name=name, **values))

    async def load(self) -> dict[str, tuple[State, str]]:
        async with self.engine.connect() as connection:
            rows = (await connection.execute(select(agents.c.name, agents.c.state, agents.c.reason))).all()
        return {name: (State(state), reason) for name, state, reason in rows}


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
    """Saves each change in the background, one write at a time and each of the state as it is
    then, so the last write is the latest state; a database that refuses it is logged."""

    def __init__(self, store: AgentStore, board: AgentBoard) -> None:
        self.store = store
        self.board = board
        self._pending: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Lock()

    def __call__(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._write(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, name: str) -> None:
        async with self._one_at_a_time:
            status = self.board.status(name)
            try:
                await self.store.save(name, status.state, status.reason)
            except (SQLAlchemyError, OSError) as exc:
                log.error("agent %s: state %s not stored: %s", name, status.state.value, exc)

    async def drain(self) -> None:
        await asyncio.gather(*self._pending)
