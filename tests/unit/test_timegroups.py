from __future__ import annotations

from datetime import datetime, time

import pytest

from ivr.core.timegroups import DayOfYear, TimeRule, parse_date, parse_days, parse_hours

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def at(text: str) -> datetime:
    """A naive wall-clock moment: rules compare wall-clock times, the zone is applied before."""
    return datetime.fromisoformat(text)


# parse_days


@pytest.mark.parametrize(("text", "days"), [
    ("mon", {MON}),
    ("mon-fri", {MON, TUE, WED, THU, FRI}),
    ("sat,sun", {SAT, SUN}),
    ("fri-mon", {FRI, SAT, SUN, MON}),
    ("sun-sun", {SUN}),
    ("Mon - Wed, SUN", {MON, TUE, WED, SUN}),
    ("mon-tue,tue-wed", {MON, TUE, WED}),
    ("tue-mon", {TUE, WED, THU, FRI, SAT, SUN, MON}),
])
def test_parse_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == frozenset(days)


@pytest.mark.parametrize(("text", "message"), [
    ("monday", "unknown day 'monday'"),
    ("mon-fry", "unknown day 'fry'"),
    ("mon,", "unknown day ''"),
    ("-fri", "unknown day ''"),
    ("1-5", "unknown day '1'"),
])
def test_parse_days_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_days(text)


# parse_hours


@pytest.mark.parametrize(("text", "start", "end"), [
    ("09:00-18:30", time(9), time(18, 30)),
    (" 09:00 - 18:00 ", time(9), time(18)),
    ("22:00-06:00", time(22), time(6)),
    ("00:00-24:00", time(0), time.max),
    ("18:00-24:00", time(18), time.max),
    ("24:00-06:00", time(0), time(6)),
    ("23:59-00:00", time(23, 59), time(0)),
])
def test_parse_hours(text: str, start: time, end: time) -> None:
    assert parse_hours(text) == (start, end)


@pytest.mark.parametrize(("text", "message"), [
    ("9-18", "expected HH:MM-HH:MM"),
    ("9:00-18:00", "expected HH:MM-HH:MM"),
    ("09:00", "expected HH:MM-HH:MM"),
    ("25:00-26:00", "expected HH:MM-HH:MM"),
    ("09:60-10:00", "expected HH:MM-HH:MM"),
    ("09:00-24:01", "24:00 is the latest time"),
    ("24:30-06:00", "24:00 is the latest time"),
    ("10:00-10:00", "empty range"),
    ("00:00-00:00", "empty range"),
    ("24:00-00:00", "empty range"),
])
def test_parse_hours_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(text)


# parse_date


@pytest.mark.parametrize(("text", "day"), [
    ("2026-12-25", DayOfYear(2026, 12, 25)),
    ("12-25", DayOfYear(None, 12, 25)),
    (" 01-01 ", DayOfYear(None, 1, 1)),
    ("02-29", DayOfYear(None, 2, 29)),
    ("2028-02-29", DayOfYear(2028, 2, 29)),
])
def test_parse_date(text: str, day: DayOfYear) -> None:
    assert parse_date(text) == day


@pytest.mark.parametrize(("text", "message"), [
    ("2026-02-29", "no such date"),
    ("13-01", "no such date"),
    ("04-31", "no such date"),
    ("00-10", "no such date"),
    ("2026-1-5", "expected YYYY-MM-DD or MM-DD"),
    ("25/12", "expected YYYY-MM-DD or MM-DD"),
    ("", "expected YYYY-MM-DD or MM-DD"),
])
def test_parse_date_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date(text)


def test_a_day_without_year_matches_every_year() -> None:
    christmas = parse_date("12-25")

    assert christmas.matches(at("2026-12-25").date())
    assert christmas.matches(at("2031-12-25").date())
    assert not christmas.matches(at("2026-12-24").date())


def test_a_day_with_year_matches_that_year_only() -> None:
    day = parse_date("2026-04-03")

    assert day.matches(at("2026-04-03").date())
    assert not day.matches(at("2027-04-03").date())


def test_february_29_every_year_matches_leap_years_only() -> None:
    day = parse_date("02-29")

    assert day.matches(at("2028-02-29").date())
    assert not day.matches(at("2027-02-28").date())
    assert not day.matches(at("2027-03-01").date())


# TimeRule.matches


def test_an_empty_rule_matches_always() -> None:
    assert TimeRule().matches(at("2026-01-14 03:00"))


def test_office_hours_start_inclusive_end_exclusive() -> None:
    rule = TimeRule(parse_days("mon-fri"), *parse_hours("09:00-18:00"))

    assert not rule.matches(at("2026-01-14 08:59:59"))  # a Wednesday
    assert rule.matches(at("2026-01-14 09:00"))
    assert rule.matches(at("2026-01-14 17:59:59"))
    assert not rule.matches(at("2026-01-14 18:00"))
    assert not rule.matches(at("2026-01-17 10:00"))  # a Saturday


def test_hours_wrapping_midnight() -> None:
    rule = TimeRule(None, *parse_hours("22:00-06:00"))

    assert rule.matches(at("2026-01-14 22:00"))
    assert rule.matches(at("2026-01-14 23:59"))
    assert rule.matches(at("2026-01-15 00:00"))
    assert rule.matches(at("2026-01-15 05:59"))
    assert not rule.matches(at("2026-01-15 06:00"))
    assert not rule.matches(at("2026-01-15 12:00"))
    assert not rule.matches(at("2026-01-15 21:59"))


def test_days_apply_to_the_moment_not_to_the_start_of_a_wrapping_range() -> None:
    """As in Asterisk's GotoIfTime: "fri 22:00-06:00" is Friday 00:00-06:00 and 22:00-24:00,
    not the night from Friday to Saturday."""
    rule = TimeRule(parse_days("fri"), *parse_hours("22:00-06:00"))

    assert rule.matches(at("2026-01-16 23:00"))  # Friday
    assert rule.matches(at("2026-01-16 03:00"))  # Friday
    assert not rule.matches(at("2026-01-17 03:00"))  # Saturday


def test_until_24_00_includes_the_last_minute() -> None:
    rule = TimeRule(None, *parse_hours("18:00-24:00"))

    assert rule.matches(at("2026-01-14 23:59:59"))
    assert not rule.matches(at("2026-01-14 00:00"))


def test_dates_and_hours_must_both_match() -> None:
    rule = TimeRule(None, *parse_hours("09:00-14:00"), (parse_date("12-24"), parse_date("12-31")))

    assert rule.matches(at("2026-12-24 10:00"))
    assert rule.matches(at("2026-12-31 13:59"))
    assert not rule.matches(at("2026-12-24 15:00"))
    assert not rule.matches(at("2026-12-23 10:00"))


def test_days_and_dates_must_both_match() -> None:
    rule = TimeRule(parse_days("sat,sun"), dates=(parse_date("12-25"),))

    assert not rule.matches(at("2026-12-25 10:00"))  # a Friday
    assert rule.matches(at("2027-12-25 10:00"))  # a Saturday


def test_an_aware_moment_is_compared_by_its_wall_clock() -> None:
    rule = TimeRule(None, *parse_hours("09:00-18:00"))

    assert rule.matches(datetime.fromisoformat("2026-01-14T09:30+01:00"))
    assert not rule.matches(datetime.fromisoformat("2026-01-14T08:30+00:00"))
