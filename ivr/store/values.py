"""How values are kept in the database, on SQLite as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column


def utc(moment: datetime) -> datetime:
    """Every time is stored in UTC; SQLite gives them back naive.

    >>> from datetime import timedelta, timezone
    >>> utc(datetime(2026, 12, 7, 10, 0)).isoformat()
    '2026-12-07T10:00:00+00:00'
    >>> utc(datetime(2026, 12, 7, 11, 0, tzinfo=timezone(timedelta(hours=1)))).isoformat()
    '2026-12-07T10:00:00+00:00'
    """
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def clipped(text: str, column: Column[str]) -> str:
    """Text cut to its column's length, with an ellipsis that says so (PostgreSQL would refuse
    it, SQLite keep it whole)."""
    length = getattr(column.type, "length", None)
    return text[:length - 1] + "…" if length and len(text) > length else text
