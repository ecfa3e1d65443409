"""Spares' daily counts carried between the engine and the store: one node's spare call counts
on another node, and after a restart; a database that fails stops nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.distribution.events import CallerLeft, OfferAnswered
from ivr.stasis.spares import Spares
from ivr.store.engine import open_engine
from ivr.store.migrations import upgrade
from ivr.store.spare_calls import SpareCalls
from tests.unit.test_distribution_engine import LA_DAY, Setup, offered_after_the_wait, spare_setup


class Node:
    """One app node's engine and its spares' adapter; the commands the adapter is fed back
    with are dropped (no ARI here)."""

    def __init__(self, store: SpareCalls, limit: int = 1) -> None:
        self.setup = spare_setup(limit)
        self.tasks: list[asyncio.Task[None]] = []
        self.spares = Spares(store, self.setup.engine, self.setup.engine.handle, self.spawn)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(work))

    async def spare_answers(self, call_id: str) -> None:
        """A caller waits until it is offered to the spare, who answers, then hangs up."""
        s = self.setup
        [(offer, _)] = offered_after_the_wait(s, call_id)
        s.claimed(offer)
        for command in s.engine.handle(OfferAnswered(offer)):
            self.spares.carry_out(command)
        s.engine.handle(CallerLeft(call_id))
        await asyncio.gather(*self.tasks)

    def counted(self) -> int:
        return self.setup.engine.spare_calls.get(("spare", LA_DAY), 0)


async def test_a_spares_call_on_one_node_counts_on_the_others_and_after_a_restart(engine: AsyncEngine) -> None:
    await upgrade(engine)
    a, b = Node(SpareCalls(engine), limit=2), Node(SpareCalls(engine), limit=2)

    await a.spare_answers("a1")
    await b.spare_answers("b1")
    assert (a.counted(), b.counted()) == (1, 2), "b's own call came back counted with a's"
    await a.spares.read()
    assert a.counted() == 2
    assert offered_after_the_wait(a.setup, "a2") == []

    restarted = Node(SpareCalls(engine), limit=2)
    await restarted.spares.read()
    assert restarted.counted() == 2


async def test_a_database_that_fails_stops_no_call(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Never migrated: every statement fails, as with a database that cannot be reached."""
    database = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}")
    node = Node(SpareCalls(database))
    try:
        await node.spares.read()
        await node.spare_answers("c1")
    finally:
        await database.dispose()

    assert node.counted() == 1
    assert offered_after_the_wait(node.setup, "c2") == [], "held at its limit by this node's own count"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert [e.split(" (")[0] for e in errors] == ["spares' daily counts not read",
                                                  "spare spare: overflow call not stored"]


async def test_nothing_is_read_while_no_campaign_has_a_daily_limit(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Never migrated: a read would fail, and say so."""
    database = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}")
    spares = Spares(SpareCalls(database), Setup().engine, lambda event: pytest.fail(f"fed {event}"),
                    lambda work: None)
    try:
        await spares.read()
    finally:
        await database.dispose()

    assert caplog.records == []
