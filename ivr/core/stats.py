"""Service-level reports computed from queue_log lines: per campaign and interval (15, 30 or
60 minutes, or a day), the calls offered, answered and abandoned, the service level, the average
speed of answer and handle time, and the longest wait.

A call counts in the interval in which it entered the line (ENTERQUEUE), whatever the time it
ended; a call entering twice (an app restarted while it waited) counts once.

- ``answered``: CONNECT. ``answered_in_time``: its hold time within the campaign's
  ``service_level`` seconds.
- ``abandoned``: ABANDON after ``short_abandon`` seconds or more; ``short_abandoned``: sooner
  (callers who hung up at once, often misdials), counted apart.
- ``timeouts`` (EXITWITHTIMEOUT), ``exit_key`` (EXITWITHKEY), ``other_exits`` (the app's
  EXITWITHCALLBACK and EXITWITHREDIRECT).
- ``service_level``: answered in time, out of those answered (app_queue's SL).
  ``service_level_with_abandons``: answered in time and abandoned in time, out of those answered
  and abandoned (short ones too), as app_queue's SL2.
- ``average_speed_of_answer``: mean hold time of those answered; ``average_handle_time``: mean
  talk time (COMPLETECALLER / COMPLETEAGENT's calltime); ``longest_wait``: the longest hold or
  wait of any call, answered or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from ivr.core.queue_log import QueueLogLine

Interval = Literal["15", "30", "60", "day"]
INTERVALS: tuple[Interval, ...] = ("15", "30", "60", "day")
WAIT_FIELD = {"ABANDON": 2, "EXITWITHTIMEOUT": 2, "EXITWITHKEY": 3, "EXITWITHCALLBACK": 2,
              "EXITWITHREDIRECT": 2}
"""Where each way out of the line keeps its wait (waittime), counting data1 as 0."""


@dataclass
class Counts:
    campaign: str
    start: datetime
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_in_time: int = 0
    timeouts: int = 0
    exit_key: int = 0
    other_exits: int = 0
    longest_wait: int = 0
    holds: list[int] = field(default_factory=list)
    talks: list[int] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """What ``ivr stats`` and ``GET /api/stats`` show of the interval."""
        every = self.answered + self.abandoned + self.short_abandoned
        shown = {name: value for name, value in asdict(self).items() if name not in ("holds", "talks")}
        return shown | {
            "start": self.start.isoformat(),
            "service_level": _percent(self.answered_in_time, self.answered),
            "service_level_with_abandons": _percent(self.answered_in_time + self.abandoned_in_time, every),
            "average_speed_of_answer": _mean(self.holds),
            "average_handle_time": _mean(self.talks),
        }


def _percent(part: int, whole: int) -> float | None:
    """
    >>> _percent(2, 3), _percent(0, 0)
    (66.7, None)
    """
    return round(100 * part / whole, 1) if whole else None


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def interval_start(moment: datetime, interval: Interval) -> datetime:
    """The start of the interval holding ``moment``, in ``moment``'s own time zone.

    >>> from datetime import UTC
    >>> interval_start(datetime(2026, 12, 7, 10, 44, 59, tzinfo=UTC), "15").isoformat()
    '2026-12-07T10:30:00+00:00'
    >>> interval_start(datetime(2026, 12, 7, 10, 44, 59, tzinfo=UTC), "day").isoformat()
    '2026-12-07T00:00:00+00:00'
    """
    if interval == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int(interval)
    return moment.replace(minute=moment.minute // minutes * minutes, second=0, microsecond=0)


@dataclass
class _Call:
    entered: float
    events: list[QueueLogLine] = field(default_factory=list)


def stats(lines: Iterable[QueueLogLine], start: datetime, end: datetime, interval: Interval,
          service_level: Callable[[str], float], short_abandon: float) -> list[Counts]:
    """The counts of each campaign and interval with calls entering from ``start`` to before
    ``end``, in order of campaign then time; intervals are cut in ``start``'s time zone."""
    calls: dict[tuple[str, str], _Call] = {}
    for line in lines:
        key = (line.queuename, line.callid)
        if line.event == "ENTERQUEUE":
            calls.setdefault(key, _Call(line.time))
        elif key in calls:
            calls[key].events.append(line)
    counts: dict[tuple[str, datetime], Counts] = {}
    zone = start.tzinfo
    for (campaign, _), call in calls.items():
        entered = datetime.fromtimestamp(call.entered, zone)
        if not start <= entered < end:
            continue
        bucket = interval_start(entered, interval)
        tally = counts.setdefault((campaign, bucket), Counts(campaign, bucket))
        _count(tally, call, service_level(campaign), short_abandon)
    return [counts[key] for key in sorted(counts)]


def _count(tally: Counts, call: _Call, threshold: float, short_abandon: float) -> None:
    tally.offered += 1
    for line in call.events:
        if line.event == "CONNECT":
            hold = _number(line, 0)
            tally.answered += 1
            tally.answered_in_time += hold <= threshold
            tally.holds.append(hold)
            tally.longest_wait = max(tally.longest_wait, hold)
        elif line.event in ("COMPLETECALLER", "COMPLETEAGENT"):
            tally.talks.append(_number(line, 1))
        elif line.event in WAIT_FIELD:
            wait = _number(line, WAIT_FIELD[line.event])
            tally.longest_wait = max(tally.longest_wait, wait)
            _count_exit(tally, line.event, wait, threshold, short_abandon)


def _count_exit(tally: Counts, event: str, wait: int, threshold: float, short_abandon: float) -> None:
    if event == "ABANDON":
        if wait < short_abandon:
            tally.short_abandoned += 1
        else:
            tally.abandoned += 1
        tally.abandoned_in_time += wait <= threshold
    elif event == "EXITWITHTIMEOUT":
        tally.timeouts += 1
    elif event == "EXITWITHKEY":
        tally.exit_key += 1
    else:
        tally.other_exits += 1


def _number(line: QueueLogLine, index: int) -> int:
    """A data field's whole seconds; 0 when a line written by another tool lacks it."""
    try:
        return int(line.data[index])
    except (IndexError, ValueError):
        return 0


def period(first: str, last: str, zone: tzinfo | None = None) -> tuple[datetime, datetime]:
    """``--from`` and ``--to`` as given (ISO dates or times, local to ``zone`` when they name no
    zone): a date alone as ``--to`` includes that whole day. Raises ValueError naming the field.

    >>> from datetime import UTC
    >>> [t.isoformat() for t in period("2026-12-07", "2026-12-07", UTC)]
    ['2026-12-07T00:00:00+00:00', '2026-12-08T00:00:00+00:00']
    >>> [t.isoformat() for t in period("2026-12-07T10:00", "2026-12-07T11:30+01:00", UTC)]
    ['2026-12-07T10:00:00+00:00', '2026-12-07T11:30:00+01:00']
    """
    moments = []
    for name, text in (("from", first), ("to", last)):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a date (2026-12-07) "
                             "or a time (2026-12-07T10:00)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
        moments.append(moment)
    start, end = moments
    if len(last.strip()) == len("2026-12-07"):
        end += timedelta(days=1)
    if end <= start:
        raise ValueError(f"to: {last!r} is not after from {first!r}")
    return start, end
