"""The customer's side of a callback: the leg that dialled them has answered; they hear who is
calling and press a key to be put through to the agent, who is waiting on the line.

A key is required because an answering machine or a voicemail box answers too: without it, a
callback would count as done when nobody heard it (a FreePBX callback module's known fault).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.commands import CancelTimer, Command, ConnectAgent, Finished, Hangup, StartTimer
from ivr.core.events import CallStarted, DigitPressed, Event, HungUp, PlaybackFinished, TimerFired
from ivr.core.facts import CallFacts
from ivr.core.player import Player

ANSWER_TIMER = "accept"


@dataclass(frozen=True)
class Acceptance:
    prompt: tuple[str, ...]
    key: str = "1"
    seconds: float = 5.0
    """After the prompt, how long to wait for the key."""
    repeats: int = 1
    """How many times the prompt is played again when no key comes."""


class CallbackAcceptance:
    def __init__(self, call_id: str, callback_id: str, attempt: int, rules: Acceptance) -> None:
        self.rules = rules
        self.player = Player(call_id)
        self.facts = CallFacts(nodes=[f"callback:{callback_id}"])
        self.facts.notes.append(f"callback {callback_id}: attempt {attempt}")
        self.plays = 0
        self.state = "asking"

    def handle(self, event: Event) -> list[Command]:
        match event:
            case CallStarted() if self.state == "asking" and not self.plays:
                return self._ask()
            case PlaybackFinished(playback_id=pid) if self.player.finished(pid) and self.state == "asking":
                return [StartTimer(ANSWER_TIMER, self.rules.seconds)]
            case DigitPressed(digit=digit) if self.state == "asking":
                self.facts.entries.append(digit)
                if digit != self.rules.key:
                    return []
                self.state = "connected"
                self.facts.notes.append("the customer accepted")
                return [*self.player.stop(), CancelTimer(ANSWER_TIMER), ConnectAgent()]
            case TimerFired(name=name) if name == ANSWER_TIMER and self.state == "asking":
                if self.plays <= self.rules.repeats:
                    return self._ask()
                self.state = "done"
                self.facts.notes.append(f"no key {self.rules.key} after {self.plays} prompt(s)")
                return [Hangup("normal"), Finished(f"callback not accepted (no key {self.rules.key})",
                                                   self.facts)]
            case HungUp(cause=cause) if self.state != "done":
                connected = self.state == "connected"
                outcome = "callback completed" if connected else "callback: the customer hung up"
                self.state = "done"
                return [Finished(f"{outcome} ({cause})", self.facts)]
        return []

    def _ask(self) -> list[Command]:
        self.plays += 1
        return [*self.player.play(self.rules.prompt)]
