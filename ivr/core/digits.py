"""Collecting a number by DTMF: maximum length, terminator key, first and inter-digit timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ivr.core.commands import CancelTimer, Command, StartTimer

DTMF_KEYS = frozenset("0123456789*#ABCD")
TIMER = "digits"


@dataclass(frozen=True)
class DigitRules:
    max_digits: int
    terminator: str
    first_digit_timeout: float
    inter_digit_timeout: float


@dataclass(frozen=True)
class Collected:
    digits: str
    ended_by: Literal["length", "terminator", "timeout"]


class DigitCollector:
    """Digits are taken from the moment the collector exists (barge-in during the prompt);
    the first-digit clock starts only when ``start_clock`` is called, after the prompt."""

    def __init__(self, rules: DigitRules) -> None:
        self.rules = rules
        self.digits = ""
        self.result: Collected | None = None

    def start_clock(self) -> list[Command]:
        if self.result or self.digits:
            return []
        return [StartTimer(TIMER, self.rules.first_digit_timeout)]

    def press(self, digit: str) -> list[Command]:
        if self.result or digit not in DTMF_KEYS:
            return []
        if self.rules.terminator and digit == self.rules.terminator:
            return self._finish("terminator")
        self.digits += digit
        if len(self.digits) >= self.rules.max_digits:
            return self._finish("length")
        return [StartTimer(TIMER, self.rules.inter_digit_timeout)]

    def resume(self) -> list[Command]:
        """Restart the running clock, whose timer may have been lost."""
        if self.result:
            return []
        seconds = self.rules.inter_digit_timeout if self.digits else self.rules.first_digit_timeout
        return [StartTimer(TIMER, seconds)]

    def timeout(self) -> list[Command]:
        return [] if self.result else self._finish("timeout")

    def _finish(self, ended_by: Literal["length", "terminator", "timeout"]) -> list[Command]:
        self.result = Collected(self.digits, ended_by)
        return [CancelTimer(TIMER)]
