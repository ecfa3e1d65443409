"""The customer's side of a callback, event by event."""

from __future__ import annotations

from ivr.core.callback_accept import ANSWER_TIMER, Acceptance, CallbackAcceptance
from ivr.core.commands import CancelTimer, ConnectAgent, Finished, Hangup, Play, StartTimer, StopPlayback
from ivr.core.events import CallStarted, DigitPressed, HungUp, PlaybackFinished, TimerFired

PROMPT = ("sound:ivr/callback-accept",)
STARTED = CallStarted("+34600111222", "", "callback")


def leg() -> CallbackAcceptance:
    return CallbackAcceptance("cb-k1-try-1", "k1", 1, Acceptance(PROMPT, "1", 5.0, repeats=1))


def test_the_key_during_the_prompt_connects_the_agent() -> None:
    flow = leg()

    assert flow.handle(STARTED) == [Play("cb-k1-try-1-1", PROMPT)]
    assert flow.handle(DigitPressed("7")) == []
    assert flow.handle(DigitPressed("1")) == [StopPlayback("cb-k1-try-1-1"), CancelTimer(ANSWER_TIMER),
                                              ConnectAgent()]
    ended = flow.handle(HungUp("Normal Clearing"))
    assert ended == [Finished("callback completed (Normal Clearing)", flow.facts)]
    assert flow.facts.entries == ["7", "1"] and flow.facts.notes[-1] == "the customer accepted"


def test_no_key_repeats_the_prompt_once_then_hangs_up() -> None:
    flow = leg()
    flow.handle(STARTED)

    assert flow.handle(PlaybackFinished("cb-k1-try-1-1")) == [StartTimer(ANSWER_TIMER, 5.0)]
    assert flow.handle(TimerFired(ANSWER_TIMER)) == [Play("cb-k1-try-1-2", PROMPT)]
    flow.handle(PlaybackFinished("cb-k1-try-1-2"))
    assert flow.handle(TimerFired(ANSWER_TIMER)) == [
        Hangup("normal"), Finished("callback not accepted (no key 1)", flow.facts)]
    assert flow.handle(HungUp("Normal Clearing")) == []


def test_a_customer_hanging_up_before_the_key_is_recorded_so() -> None:
    flow = leg()
    flow.handle(STARTED)

    assert flow.handle(HungUp("Normal Clearing")) == [
        Finished("callback: the customer hung up (Normal Clearing)", flow.facts)]
