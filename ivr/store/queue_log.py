"""The queue_log written for every campaign the app runs, to a file in Asterisk's format and to
the ``ivr_queue_log`` table; and the agents' state history (``ivr_agent_history``).

Lines are made when the engine tells (``Campaigns.count``) or an agent's state changes (the
board's listeners), and written in the background: a slow disk or database never holds up a
call, and a failing one costs lines (logged), never a call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.agents import AgentBoard
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import LineEvent
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.core.queue_log import DATA_FIELDS, AgentEvents, QueueLogLine, campaigns_of, line_of
from ivr.core.stats import Counts, Interval, stats
from ivr.settings import Settings
from ivr.store.schema import agent_history, queue_log
from ivr.store.values import clipped, utc

log = logging.getLogger("ivr.store")
DEFAULT_SERVICE_LEVEL = 20.0
"""A campaign gone from the flow file: the field's default."""


@dataclass(frozen=True)
class AgentChange:
    at: datetime
    agent: str
    state: str
    reason: str


class QueueLogStore:
    def __init__(self, engine: AsyncEngine, node: str = "") -> None:
        self.engine = engine
        self.node = node

    async def add(self, lines: list[QueueLogLine], changes: list[AgentChange]) -> None:
        async with self.engine.begin() as connection:
            if lines:
                await connection.execute(insert(queue_log), [_row(line) for line in lines])
            if changes:
                reason = agent_history.c.reason
                await connection.execute(insert(agent_history), [
                    {"at": c.at, "agent": c.agent, "state": c.state, "reason": clipped(c.reason, reason),
                     "node": self.node} for c in changes])

    async def between(self, start: datetime, end: datetime, campaign: str = "") -> list[QueueLogLine]:
        """The lines from ``start`` to before ``end``, in order (of one campaign, or all)."""
        query = select(queue_log).where(queue_log.c.time >= start, queue_log.c.time < end)
        if campaign:
            query = query.where(queue_log.c.queuename == campaign)
        query = query.order_by(queue_log.c.time, queue_log.c.id)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_line(row) for row in rows]

    async def stats(self, flow: Flow, start: datetime, end: datetime, interval: Interval,
                    short_abandon: float, campaign: str = "") -> list[Counts]:
        """The stats of calls entering from ``start`` to before ``end``; what became of them is
        read for a day beyond (a caller waits, then talks, well within it)."""
        lines = await self.between(start, end + timedelta(days=1), campaign)

        def service_level(name: str) -> float:
            node = flow.nodes.get(Destination("campaign", name))
            return node.service_level if isinstance(node, Campaign) else DEFAULT_SERVICE_LEVEL
        return stats(lines, start, end, interval, service_level, short_abandon)

    async def history(self, agent: str = "") -> list[AgentChange]:
        query = select(agent_history).order_by(agent_history.c.at, agent_history.c.id)
        if agent:
            query = query.where(agent_history.c.agent == agent)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [AgentChange(utc(r["at"]), r["agent"], r["state"], r["reason"]) for r in rows]


def _row(line: QueueLogLine) -> dict[str, Any]:
    data = (*line.data[:DATA_FIELDS - 1], "|".join(line.data[DATA_FIELDS - 1:]))
    data += ("",) * (DATA_FIELDS - len(data))
    row: dict[str, Any] = {"time": datetime.fromtimestamp(line.time, UTC), "callid": line.callid,
                           "queuename": line.queuename, "agent": line.agent, "event": line.event}
    row |= {f"data{n}": value for n, value in enumerate(data, start=1)}
    return {name: clipped(value, queue_log.c[name]) if isinstance(value, str) else value
            for name, value in row.items()}


def _line(row: Any) -> QueueLogLine:
    data = [row[f"data{n}"] for n in range(1, DATA_FIELDS + 1)]
    while data and not data[-1]:
        data.pop()
    return QueueLogLine(utc(row["time"]).timestamp(), row["callid"], row["queuename"], row["agent"],
                        row["event"], tuple(data))


class QueueLogWriter:
    """Lines and agents' changes gathered for ``gather_seconds``, then appended to the file
    (flushed) and stored in one transaction."""

    def __init__(self, store: QueueLogStore, path: Path, board: AgentBoard,
                 channel: Callable[[str], str], campaigns_of: Callable[[str], Iterable[str]],
                 wall: Callable[[], float], gather_seconds: float = 0.25) -> None:
        self.store = store
        self.path = path
        self.board = board
        self.channel = channel
        self.campaigns_of = campaigns_of
        self.wall = wall
        self.gather_seconds = gather_seconds
        self.agents = AgentEvents()
        for agent, status in board.statuses.items():
            self.agents.know(agent, status.state, status.reason, wall())
        self._lines: list[QueueLogLine] = []
        self._changes: list[AgentChange] = []
        self._writer: asyncio.Task[None] | None = None

    def count(self, event: LineEvent) -> None:
        """A ``Campaigns.count`` listener."""
        self._lines.append(line_of(event, self.wall()))
        self._soon()

    def agent_changed(self, agent: str) -> None:
        """An ``AgentBoard.listeners`` listener."""
        if agent not in self.board.statuses:
            return
        status, now = self.board.status(agent), self.wall()
        at = datetime.fromtimestamp(now, UTC)
        self._changes.append(AgentChange(at, agent, status.state.value, status.reason))
        self._lines += self.agents.lines(agent, status.state, status.reason, now, self.channel(agent),
                                         self.campaigns_of(agent))
        self._soon()

    def _soon(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="queue-log")

    async def _write(self) -> None:
        while self._lines or self._changes:
            await asyncio.sleep(self.gather_seconds)
            lines, self._lines = self._lines, []
            changes, self._changes = self._changes, []
            try:
                await asyncio.to_thread(self._append, lines)
            except OSError as exc:
                log.error("queue_log: %d line(s) not written to %s: %s", len(lines), self.path, exc)
            try:
                await self.store.add(lines, changes)
            except Exception as exc:  # whatever the driver raises: the lines are lost, not the calls
                log.error("queue_log: %d line(s), %d agent change(s) not stored: %s: %s",
                          len(lines), len(changes), type(exc).__name__, exc)

    def _append(self, lines: list[QueueLogLine]) -> None:
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write("".join(f"{line.text()}\n" for line in lines))
            out.flush()

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer


def writer_for(settings: Settings, engine: AsyncEngine, board: AgentBoard,
               flow: Callable[[], Flow]) -> QueueLogWriter:
    """The queue_log of an app process: to ``reports.queue_log`` and the table."""

    def channel(agent: str) -> str:
        return flow().agent_endpoint(agent) if agent in flow().agents else ""
    return QueueLogWriter(QueueLogStore(engine, settings.ari.app), settings.queue_log_path, board, channel,
                          lambda agent: campaigns_of(flow(), agent), time.time)
