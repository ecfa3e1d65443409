from __future__ import annotations

from ivr.core.commands import CancelTimer, StartTimer
from ivr.core.digits import TIMER, Collected, DigitCollector, DigitRules

RULES = DigitRules(max_digits=4, terminator="#", first_digit_timeout=5, inter_digit_timeout=3)


def test_first_digit_clock_starts_only_when_asked() -> None:
    collector = DigitCollector(RULES)

    assert collector.start_clock() == [StartTimer(TIMER, 5)]


def test_each_digit_restarts_the_inter_digit_clock() -> None:
    collector = DigitCollector(RULES)

    assert collector.press("1") == [StartTimer(TIMER, 3)]
    assert collector.press("2") == [StartTimer(TIMER, 3)]
    assert collector.result is None


def test_input_ends_at_the_maximum_length() -> None:
    collector = DigitCollector(RULES)
    for digit in "123":
        collector.press(digit)

    assert collector.press("4") == [CancelTimer(TIMER)]
    assert collector.result == Collected("1234", "length")


def test_terminator_ends_input_and_is_not_kept() -> None:
    collector = DigitCollector(RULES)
    collector.press("7")
    collector.press("#")

    assert collector.result == Collected("7", "terminator")


def test_terminator_alone_gives_an_empty_entry() -> None:
    collector = DigitCollector(RULES)
    collector.press("#")

    assert collector.result == Collected("", "terminator")


def test_star_is_a_digit_when_it_is_not_the_terminator() -> None:
    collector = DigitCollector(RULES)
    collector.press("*")
    collector.timeout()

    assert collector.result == Collected("*", "timeout")


def test_no_terminator_configured_keeps_the_hash() -> None:
    collector = DigitCollector(DigitRules(4, "", 5, 3))
    collector.press("#")

    assert collector.digits == "#"


def test_nothing_counts_after_the_result() -> None:
    collector = DigitCollector(RULES)
    collector.press("#")

    assert collector.press("1") == []
    assert collector.timeout() == []
    assert collector.start_clock() == []


def test_unknown_keys_are_ignored() -> None:
    collector = DigitCollector(RULES)

    assert collector.press("x") == []
    assert collector.digits == ""


def test_resume_restarts_the_clock_that_was_running() -> None:
    collector = DigitCollector(RULES)
    assert collector.resume() == [StartTimer(TIMER, 5)]
    collector.press("1")
    assert collector.resume() == [StartTimer(TIMER, 3)]
