"""The demo flow: answer, play a prompt, collect digits, read them back, hang up.

It is the smallest flow that proves the whole path (answer, playback, DTMF, timers, channel
variables) against a real Asterisk.
"""

from __future__ import annotations

from ivr.core import digits
from ivr.core.commands import Answer, CancelTimer, Command, Finished, Hangup, Play, SetVariable, StopPlayback
from ivr.core.digits import DigitCollector, DigitRules
from ivr.core.events import CallStarted, DigitPressed, Event, HungUp, PlaybackFinished, Resumed, TimerFired


class DemoFlow:
    def __init__(self, call_id: str, prompt: tuple[str, ...], rules: DigitRules) -> None:
        self.call_id = call_id
        self.prompt = prompt
        self.rules = rules
        self.collector = DigitCollector(rules)
        self.playing: str | None = None
        self.plays = 0
        self.state = "new"

    def handle(self, event: Event) -> list[Command]:
        if self.state == "done":
            return []
        match event:
            case CallStarted() if self.state == "new":
                return [Answer(), SetVariable("IVR_FLOW", "demo"), *self._prompt()]
            case DigitPressed(digit=digit) if self.state == "collecting":
                return self._digit(digit)
            case PlaybackFinished(playback_id=pid) if pid == self.playing:
                return self._playback_finished()
            case TimerFired(name=digits.TIMER) if self.state == "collecting":
                return self._collected(self.collector.timeout())
            case Resumed():
                return self._resume()
            case HungUp(cause=cause):
                self.state = "done"
                return [CancelTimer(digits.TIMER),
                        Finished(f"caller hung up ({cause})", self.collector.digits)]
        return []

    def _play(self, media: tuple[str, ...]) -> list[Command]:
        self.plays += 1
        self.playing = f"{self.call_id}-{self.plays}"
        return [Play(self.playing, media)]

    def _prompt(self) -> list[Command]:
        self.state = "collecting"
        self.collector = DigitCollector(self.rules)
        return self._play(self.prompt)

    def _digit(self, digit: str) -> list[Command]:
        barge_in = [StopPlayback(self.playing)] if self.playing and not self.collector.digits else []
        if barge_in:
            self.playing = None
        return barge_in + self._collected(self.collector.press(digit))

    def _collected(self, commands: list[Command]) -> list[Command]:
        result = self.collector.result
        if result is None:
            return commands
        self.state = "reading back"
        readback = ("sound:ivr/you-entered", f"digits:{result.digits}") if result.digits else ()
        return [*commands, SetVariable("IVR_DIGITS", result.digits),
                SetVariable("IVR_DIGITS_END", result.ended_by),
                *self._play((*readback, "sound:ivr/thank-you-goodbye"))]

    def _playback_finished(self) -> list[Command]:
        self.playing = None
        if self.state == "collecting":
            return self.collector.start_clock()
        return self._hang_up("completed")

    def _resume(self) -> list[Command]:
        """Events may have been lost while disconnected: start the step we were in again."""
        if self.state != "collecting":
            return self._hang_up("completed after reconnect")
        if self.collector.digits:
            return self.collector.resume()
        stale = [StopPlayback(self.playing)] if self.playing else []
        return stale + self._prompt()

    def _hang_up(self, outcome: str) -> list[Command]:
        self.state = "done"
        return [Hangup(), Finished(outcome, self.collector.digits)]
