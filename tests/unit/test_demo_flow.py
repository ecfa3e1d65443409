from __future__ import annotations

from ivr.core.commands import (
    Answer,
    CancelTimer,
    Finished,
    Hangup,
    Play,
    SetVariable,
    StartTimer,
    StopPlayback,
)
from ivr.core.demo_flow import DemoFlow
from ivr.core.digits import TIMER, DigitRules
from ivr.core.events import CallStarted, DigitPressed, HungUp, PlaybackFinished, Resumed, TimerFired

PROMPT = ("sound:hello-world",)


def started() -> DemoFlow:
    flow = DemoFlow("c1", PROMPT, DigitRules(4, "#", 5, 3))
    assert flow.handle(CallStarted("200", "100", "inbound")) == [
        Answer(), SetVariable("IVR_FLOW", "demo"), Play("c1-1", PROMPT)]
    return flow


def test_first_digit_clock_starts_when_the_prompt_ends() -> None:
    flow = started()

    assert flow.handle(PlaybackFinished("c1-1")) == [StartTimer(TIMER, 5)]


def test_digits_are_read_back_then_the_call_ends() -> None:
    flow = started()
    flow.handle(PlaybackFinished("c1-1"))
    flow.handle(DigitPressed("4"))
    flow.handle(DigitPressed("2"))

    assert flow.handle(DigitPressed("#")) == [
        CancelTimer(TIMER), SetVariable("IVR_DIGITS", "42"),
        SetVariable("IVR_DIGITS_END", "terminator"),
        Play("c1-2", ("sound:ivr/you-entered", "digits:42", "sound:ivr/thank-you-goodbye"))]
    assert flow.handle(PlaybackFinished("c1-2")) == [Hangup(), Finished("completed", "42")]


def test_a_digit_during_the_prompt_stops_it_once() -> None:
    flow = started()

    assert flow.handle(DigitPressed("1")) == [StopPlayback("c1-1"), StartTimer(TIMER, 3)]
    assert flow.handle(DigitPressed("2")) == [StartTimer(TIMER, 3)]


def test_the_end_of_a_stopped_prompt_does_not_start_the_first_digit_clock() -> None:
    flow = started()
    flow.handle(DigitPressed("1"))

    assert flow.handle(PlaybackFinished("c1-1")) == []


def test_no_input_ends_by_timeout() -> None:
    flow = started()
    flow.handle(PlaybackFinished("c1-1"))
    commands = flow.handle(TimerFired(TIMER))

    assert SetVariable("IVR_DIGITS", "") in commands
    assert Play("c1-2", ("sound:ivr/thank-you-goodbye",)) in commands


def test_duplicate_and_stray_events_change_nothing() -> None:
    flow = started()
    flow.handle(PlaybackFinished("c1-1"))

    assert flow.handle(PlaybackFinished("c1-1")) == []
    assert flow.handle(PlaybackFinished("someone-else")) == []
    assert flow.handle(CallStarted("200", "100", "inbound")) == []


def test_resume_before_any_digit_replays_the_prompt() -> None:
    flow = started()

    assert flow.handle(Resumed()) == [StopPlayback("c1-1"), Play("c1-2", PROMPT)]


def test_resume_with_partial_input_restarts_the_inter_digit_clock() -> None:
    flow = started()
    flow.handle(DigitPressed("1"))

    assert flow.handle(Resumed()) == [StartTimer(TIMER, 3)]


def test_resume_while_reading_back_ends_the_call() -> None:
    flow = started()
    flow.handle(DigitPressed("#"))

    assert flow.handle(Resumed()) == [Hangup(), Finished("completed after reconnect", "")]


def test_hang_up_finishes_and_later_events_are_ignored() -> None:
    flow = started()

    assert flow.handle(HungUp("16")) == [CancelTimer(TIMER), Finished("caller hung up (16)")]
    assert flow.handle(DigitPressed("1")) == []
