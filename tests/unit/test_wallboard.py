from datetime import date

from ivr.core.distribution.commands import LineEvent
from ivr.core.waiting import Waiting
from ivr.core.wallboard import Wallboard


class Today:
    def __init__(self) -> None:
        self.date = date(2026, 12, 7)

    def __call__(self) -> date:
        return self.date


def test_the_day_counts_answers_within_the_service_level_abandons_and_the_longest_wait() -> None:
    today = Today()
    board = Wallboard(today, {"sales": 20.0, "support": 60.0}.__getitem__)
    for event in [LineEvent("sales", "c1", "entered", 0), LineEvent("sales", "c1", "answered", 5, "ana"),
                  LineEvent("sales", "c2", "entered", 0), LineEvent("sales", "c2", "answered", 20, "bo"),
                  LineEvent("sales", "c3", "entered", 0), LineEvent("sales", "c3", "answered", 41, "ana"),
                  LineEvent("sales", "c4", "entered", 0), LineEvent("sales", "c4", "abandoned", 12),
                  LineEvent("sales", "c5", "entered", 0), LineEvent("sales", "c5", "left", 300, why="max wait"),
                  # What the queue_log tells besides: neither a new call nor a second answer.
                  LineEvent("sales", "c1", "ended", 5, "ana", talked=60, by="agent"),
                  LineEvent("sales", "c2", "unanswered", 3, "ana", rang=3)]:
        board.count(event)

    lines = {"sales": [Waiting("c6", 5, 100.0, 1), Waiting("c7", 5, 130.0, 2)]}
    assert board.view(["support", "sales"], lines, 160.0) == [
        {"campaign": "support", "waiting": 0, "longest_wait_seconds": 0.0, "entered": 0, "answered": 0,
         "abandoned": 0, "left": 0, "service_level": None, "service_level_seconds": 60.0,
         "average_answer_seconds": None},
        {"campaign": "sales", "waiting": 2, "longest_wait_seconds": 60.0, "entered": 5, "answered": 3,
         "abandoned": 1, "left": 1, "service_level": 66.7, "service_level_seconds": 20.0,
         "average_answer_seconds": 22.0}]

    today.date = date(2026, 12, 8)
    assert board.view(["sales"], {}, 160.0)[0]["answered"] == 0
