"""Named time groups (days of the week, hours, dates) and whether a moment falls in one.

A group is a list of rules; a moment is in the group when it matches any rule, and it matches a
rule when it matches every field the rule sets. Times are wall-clock times of the condition's
time zone, so daylight-saving changes need nothing from the admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_DATE = re.compile(r"^(?:([0-9]{4})-)?([0-9]{2})-([0-9]{2})$")


@dataclass(frozen=True)
class DayOfYear:
    """A date, or with ``year`` None the same day every year (``12-25``)."""

    year: int | None
    month: int
    day: int

    def matches(self, day: date) -> bool:
        return (self.year in (None, day.year)) and (self.month, self.day) == (day.month, day.day)


@dataclass(frozen=True)
class TimeRule:
    weekdays: frozenset[int] | None = None
    start: time | None = None
    end: time | None = None
    dates: tuple[DayOfYear, ...] = ()

    def matches(self, moment: datetime) -> bool:
        if self.weekdays is not None and moment.weekday() not in self.weekdays:
            return False
        if self.dates and not any(d.matches(moment.date()) for d in self.dates):
            return False
        if self.start is not None and self.end is not None:
            now = moment.time().replace(tzinfo=None)
            if self.start <= self.end:
                return self.start <= now < self.end
            return now >= self.start or now < self.end
        return True


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun`` or ``fri-mon`` (wrapping), as weekday numbers (Monday 0).

    >>> sorted(parse_days("fri-mon"))
    [0, 4, 5, 6]
    >>> parse_days("mon-fry")
    Traceback (most recent call last):
    ValueError: unknown day 'fry' (expected mon, tue, wed, thu, fri, sat, sun)
    """
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        start, end = _day(first), _day(last or first)
        index = start
        days.add(index)
        while index != end:
            index = (index + 1) % 7
            days.add(index)
    return frozenset(days)


def _day(name: str) -> int:
    if name not in DAYS:
        raise ValueError(f"unknown day {name!r} (expected {', '.join(DAYS)})")
    return DAYS.index(name)


def parse_hours(text: str) -> tuple[time, time]:
    """``09:00-18:00``; ``22:00-06:00`` wraps past midnight; ``24:00`` is the end of the day.

    >>> parse_hours("09:00-18:30")
    (datetime.time(9, 0), datetime.time(18, 30))
    >>> parse_hours("9-18")
    Traceback (most recent call last):
    ValueError: expected HH:MM-HH:MM, e.g. 09:00-18:00, got '9-18'
    """
    match = _HOURS.match(text.replace(" ", ""))
    if not match:
        raise ValueError(f"expected HH:MM-HH:MM, e.g. 09:00-18:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1 == 24 and m1) or (h2 == 24 and m2):
        raise ValueError(f"24:00 is the latest time, got {text!r}")
    start = time(h1 % 24, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if start == end:
        raise ValueError(f"empty range {text!r}")
    return start, end


def parse_date(text: str) -> DayOfYear:
    """``2026-12-25`` for one day, ``12-25`` for that day every year.

    >>> parse_date("12-25")
    DayOfYear(year=None, month=12, day=25)
    >>> parse_date("2026-02-30")
    Traceback (most recent call last):
    ValueError: no such date '2026-02-30'
    """
    match = _DATE.match(text.strip())
    if not match:
        raise ValueError(f"expected YYYY-MM-DD or MM-DD, got {text!r}")
    year = int(match.group(1)) if match.group(1) else None
    month, day = int(match.group(2)), int(match.group(3))
    try:
        date(year or 2024, month, day)
    except ValueError:
        raise ValueError(f"no such date {text!r}") from None
    return DayOfYear(year, month, day)
