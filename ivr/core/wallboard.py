"""A campaign's day as a supervisor's wallboard shows it: who waits now, and what was answered
and abandoned since midnight, with the service level (answered within the campaign's
``service_level`` seconds, out of those answered).

Fed the distribution's ``LineEvent`` commands; the day starts again when the date changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ivr.core.distribution.commands import LineEvent
from ivr.core.waiting import Waiting


@dataclass
class CampaignDay:
    entered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    left: int = 0
    waited_by_answered: float = 0.0

    @property
    def service_level(self) -> float | None:
        """Percent answered within the threshold; None before the first answer.

        >>> CampaignDay(answered=4, answered_in_time=3).service_level
        75.0
        """
        return round(100 * self.answered_in_time / self.answered, 1) if self.answered else None

    @property
    def average_answer_seconds(self) -> float | None:
        return round(self.waited_by_answered / self.answered, 1) if self.answered else None


class Wallboard:
    def __init__(self, today: Callable[[], date], threshold: Callable[[str], float]) -> None:
        """``threshold(campaign)``: the campaign's service level in seconds."""
        self.today = today
        self.threshold = threshold
        self.date = today()
        self.days: dict[str, CampaignDay] = {}

    def count(self, event: LineEvent) -> None:
        day = self.day(event.campaign)
        match event.kind:
            case "entered":
                day.entered += 1
            case "answered":
                day.answered += 1
                day.waited_by_answered += event.waited
                if event.waited <= self.threshold(event.campaign):
                    day.answered_in_time += 1
            case "abandoned":
                day.abandoned += 1
            case "left":
                day.left += 1
            case "unanswered" | "ended" | "callback":
                pass

    def day(self, campaign: str) -> CampaignDay:
        if (today := self.today()) != self.date:
            self.date, self.days = today, {}
        return self.days.setdefault(campaign, CampaignDay())

    def view(self, campaigns: Iterable[str], lines: Mapping[str, list[Waiting]],
             now: float) -> list[dict[str, Any]]:
        """One row per campaign: ``campaigns`` (the flow's, in its order) and any other that has a
        line or a count today."""
        names = list(dict.fromkeys([*campaigns, *lines, *self.days]))
        rows = []
        for name in names:
            day, line = self.day(name), lines.get(name, [])
            longest = max((now - w.joined_at for w in line), default=0.0)
            rows.append({"campaign": name, "waiting": len(line), "longest_wait_seconds": round(longest, 1),
                         "entered": day.entered, "answered": day.answered, "abandoned": day.abandoned,
                         "left": day.left, "service_level": day.service_level,
                         "service_level_seconds": self.threshold(name),
                         "average_answer_seconds": day.average_answer_seconds})
        return rows
