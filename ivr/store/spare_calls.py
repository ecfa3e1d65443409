"""Spare agents' overflow calls per day (``overflow_daily_limit``), shared by the app nodes and
kept across restarts.

The day is the campaign's (``overflow_timezone``), chosen by the distribution engine; the store
only counts. A call is added with one upsert that returns the new count, so two nodes whose
spares answer at once each add theirs: the database runs the two conflicting writes one after
the other (PostgreSQL's second ``ON CONFLICT DO UPDATE`` waits for the first to commit and
updates the row it committed; SQLite runs one writer at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.schema import spare_calls

c = spare_calls.c
COUNT = c["count"]
"""Not ``c.count``: the name reads like the collection's method."""


class SpareCalls:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def count_one(self, agent: str, day: date) -> int:
        """One more overflow call answered by the spare on that day; the day's count with it."""
        async with self.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            upsert = dialect.insert(spare_calls).values(agent=agent, day=day, count=1)
            upsert = upsert.on_conflict_do_update(index_elements=["agent", "day"], set_={"count": COUNT + 1})
            return int((await connection.execute(upsert.returning(COUNT))).scalar_one())

    async def of_days(self, days: Iterable[date]) -> dict[date, dict[str, int]]:
        """The spares' counts on each of those days (a day nobody counted in is left out)."""
        query = select(c.day, c.agent, COUNT).where(c.day.in_(list(days)))
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[date, dict[str, int]] = {}
        for day, agent, count in rows:
            found.setdefault(day, {})[agent] = count
        return found
