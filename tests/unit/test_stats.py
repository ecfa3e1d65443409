from datetime import UTC, datetime

import pytest

from ivr.core.queue_log import QueueLogLine
from ivr.core.stats import period, stats

DAY = datetime(2026, 12, 7, tzinfo=UTC)
NINE = DAY.replace(hour=9).timestamp()


def log(text: str) -> list[QueueLogLine]:
    """Lines as ``+seconds|callid|queue|agent|event|data...``, from 09:00."""
    lines = []
    for row in text.strip().splitlines():
        offset, callid, queue, agent, event, *data = row.strip().split("|")
        lines.append(QueueLogLine(NINE + float(offset), callid, queue, agent, event, tuple(data)))
    return lines


DAY_OF_CALLS = log("""
    0|c1|sales|NONE|ENTERQUEUE||600|1
    5|c1|sales|ana|CONNECT|5|c1-agent-1|5
    65|c1|sales|ana|COMPLETECALLER|5|60|1
    60|c2|sales|NONE|ENTERQUEUE||601|1
    90|c2|sales|bo|RINGNOANSWER|15000
    90|c2|sales|ana|CONNECT|30|c2-agent-2|2
    210|c2|sales|ana|COMPLETEAGENT|30|120|1
    120|c3|sales|NONE|ENTERQUEUE||602|1
    122|c3|sales|NONE|ABANDON|1|1|2
    180|c4|sales|NONE|ENTERQUEUE||603|1
    192|c4|sales|NONE|ABANDON|1|1|12
    240|c5|sales|NONE|ENTERQUEUE||604|1
    540|c5|sales|NONE|EXITWITHTIMEOUT|1|1|300
    1000|c6|sales|NONE|ENTERQUEUE||605|1
    1008|c6|sales|NONE|EXITWITHKEY|0|1|1|8
    1010|c6|sales|NONE|ENTERQUEUE||605|1
    1900|c7|sales|NONE|ENTERQUEUE||606|1
    1918|c7|sales|bo|CONNECT|18|c7-agent-3|4
    1948|c7|sales|bo|COMPLETECALLER|18|30|1
    100|s1|support|NONE|ENTERQUEUE||700|1
    110|s1|support|cy|CONNECT|10|s1-agent-4|10
    130|NONE|sales|ana|PAUSE|lunch
""")


def test_a_day_by_hand_answered_abandoned_short_and_long_timeout_exit_key() -> None:
    """sales (service level 20 s): c1 answered after 5 s, talked 60; c2 after 30 s, talked 120;
    c3 hung up after 2 s (short), c4 after 12 s; c5 timed out at 300 s; c6 left by key 0 after
    8 s (and entered again: counted once); c7, in the 09:30 interval, answered after 18 s."""
    levels = {"sales": 20, "support": 5}
    sales, support = stats(DAY_OF_CALLS, DAY, DAY.replace(day=8), "day", levels.__getitem__, 5)

    assert sales.row() == {
        "campaign": "sales", "start": "2026-12-07T00:00:00+00:00",
        "offered": 7, "answered": 3, "answered_in_time": 2, "abandoned": 1, "short_abandoned": 1,
        "abandoned_in_time": 2, "timeouts": 1, "exit_key": 1, "other_exits": 0, "longest_wait": 300,
        "service_level": 66.7,                   # c1, c7 of c1, c2, c7
        "service_level_with_abandons": 80.0,     # c1, c7, c3, c4 of c1, c2, c7, c3, c4
        "average_speed_of_answer": 17.7,         # (5 + 30 + 18) / 3
        "average_handle_time": 70.0,             # (60 + 120 + 30) / 3: c7's talk ended too
    }
    assert (support.offered, support.answered, support.row()["service_level"]) == (1, 1, 0.0)


def test_intervals_of_30_minutes_and_one_campaign_alone() -> None:
    rows = stats(DAY_OF_CALLS, DAY, DAY.replace(day=8), "30", {"sales": 20, "support": 5}.__getitem__, 5)
    assert [(c.campaign, c.start.strftime("%H:%M"), c.offered, c.answered) for c in rows] == [
        ("sales", "09:00", 6, 2), ("sales", "09:30", 1, 1), ("support", "09:00", 1, 1)]
    quarters = stats(DAY_OF_CALLS, DAY, DAY.replace(day=8), "15", lambda name: 20, 5)
    assert [c.start.strftime("%H:%M") for c in quarters if c.campaign == "sales"] == ["09:00", "09:15", "09:30"]


def test_calls_are_counted_where_they_entered_and_only_within_the_period() -> None:
    later = DAY.replace(hour=9, minute=3)
    rows = stats(DAY_OF_CALLS, later, DAY.replace(day=8), "day", lambda name: 20, 5)
    assert [(c.campaign, c.offered) for c in rows] == [("sales", 4)]   # c4 (at 09:03) on


def test_a_period_from_dates_and_times_and_what_is_wrong_with_one() -> None:
    assert period("2026-12-07", "2026-12-08", UTC) == (DAY, DAY.replace(day=9))
    with pytest.raises(ValueError, match="to: '2026-12-06T10:00' is not after"):
        period("2026-12-07T10:00", "2026-12-06T10:00", UTC)
    with pytest.raises(ValueError, match="from: 'yesterday' is not a date"):
        period("yesterday", "2026-12-06", UTC)
