"""Spares' daily counts (``overflow_daily_limit``) kept in the store the app nodes share: each
overflow call a spare answers on this node is added there, and the counts of the days the
campaigns count in are read back at start and every ``READ_SECONDS``, so a spare's calls on
another node, or before a restart, count here too.

A database that cannot be reached stops no call: the engine has counted the call already and
goes on with its own counts; the error is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ivr.core.distribution import commands as cmd
from ivr.core.distribution import events as evt
from ivr.core.distribution.engine import Distribution
from ivr.store.spare_calls import SpareCalls

log = logging.getLogger("ivr.campaigns")

READ_SECONDS = 10.0
"""How late, at most, a spare's call on another node counts on this one."""


class Spares:
    def __init__(self, store: SpareCalls, engine: Distribution, feed: Callable[[evt.DistributionEvent], None],
                 spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
        self.store = store
        self.engine = engine
        self.feed = feed
        self.spawn = spawn

    def carry_out(self, command: cmd.DistributionCommand) -> bool:
        if not isinstance(command, cmd.CountSpareCall):
            return False
        self.spawn(self._count(command))
        return True

    async def run(self) -> None:
        """Until cancelled: the stored counts read at once, then every ``READ_SECONDS``."""
        while True:
            await self.read()
            await asyncio.sleep(READ_SECONDS)

    async def read(self) -> None:
        """All nodes' counts of the days the campaigns with a daily limit count in now."""
        days = self.engine.spare_days()
        if not days:
            return
        try:
            stored = await self.store.of_days(days)
        except (SQLAlchemyError, OSError) as exc:
            log.error("spares' daily counts not read (%s); this node goes on with its own", exc)
            return
        for day, counts in sorted(stored.items()):
            self.feed(evt.SpareCounts(day, tuple(sorted(counts.items()))))

    async def _count(self, call: cmd.CountSpareCall) -> None:
        try:
            count = await self.store.count_one(call.agent, call.day)
        except (SQLAlchemyError, OSError) as exc:
            log.error("spare %s: overflow call not stored (%s); counted on this node only", call.agent, exc)
            return
        self.feed(evt.SpareCounts(call.day, ((call.agent, count),)))
