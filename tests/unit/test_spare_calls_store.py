"""Spares' overflow calls per day, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.store.migrations import upgrade
from ivr.store.spare_calls import SpareCalls

MONDAY, TUESDAY, WEDNESDAY = date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)


async def test_each_call_adds_one_to_the_spares_day_and_the_days_are_read_apart(engine: AsyncEngine) -> None:
    await upgrade(engine)
    spares = SpareCalls(engine)

    assert [await spares.count_one("duty", MONDAY) for _ in range(3)] == [1, 2, 3]
    assert await spares.count_one("duty", TUESDAY) == 1
    assert await spares.count_one("boss", TUESDAY) == 1

    assert await spares.of_days([MONDAY, TUESDAY, WEDNESDAY]) == {MONDAY: {"duty": 3},
                                                                  TUESDAY: {"duty": 1, "boss": 1}}
    assert await spares.of_days([TUESDAY]) == {TUESDAY: {"duty": 1, "boss": 1}}
    assert await spares.of_days([]) == {}


async def test_two_nodes_counting_at_once_each_add_theirs(engine: AsyncEngine) -> None:
    """Each node has its own connections, as processes do; 20 races for a row neither node saw
    yet (both insert) and 20 for one that exists (both update)."""
    await upgrade(engine)
    engines = [create_async_engine(engine.url) for _ in range(2)]
    a, b = SpareCalls(engines[0]), SpareCalls(engines[1])
    agents = [f"spare{i}" for i in range(20)]
    try:
        rounds = [[sorted(await asyncio.gather(a.count_one(agent, MONDAY), b.count_one(agent, MONDAY)))
                   for agent in agents] for _ in range(2)]
    finally:
        for created in engines:
            await created.dispose()

    assert rounds == [[[1, 2]] * 20, [[3, 4]] * 20]
    assert await SpareCalls(engine).of_days([MONDAY]) == {MONDAY: dict.fromkeys(agents, 4)}
