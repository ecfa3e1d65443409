"""The IVR menu node: a prompt, one key per destination, retries, then a fallback."""

from __future__ import annotations

from ivr.core import digits
from ivr.core.commands import CancelTimer, Command
from ivr.core.digits import DigitCollector, DigitRules
from ivr.core.events import DigitPressed, Event, PlaybackFinished, TimerFired
from ivr.core.nodes import Menu
from ivr.core.step import CallContext, Goto, Out


class MenuStep:
    def __init__(self, name: str, node: Menu, ctx: CallContext) -> None:
        self.name = name
        self.node = node
        self.ctx = ctx
        self.attempt = 1
        self.done = False
        self.collector = DigitCollector(self._rules())

    def _rules(self) -> DigitRules:
        return DigitRules(1, "", self.node.timeout, self.node.timeout)

    def start(self) -> list[Out]:
        return self._offer(self.node.prompt)

    def _offer(self, media: tuple[str, ...]) -> list[Out]:
        self.collector = DigitCollector(self._rules())
        return [*self.ctx.player.play(media)]

    def handle(self, event: Event) -> list[Out]:
        if self.done:
            return []
        match event:
            case DigitPressed(digit=digit):
                return [*self.ctx.player.stop(), *self._chosen(self.collector.press(digit))]
            case TimerFired(name=digits.TIMER):
                return self._chosen(self.collector.timeout())
            case PlaybackFinished(playback_id=pid) if self.ctx.player.finished(pid):
                return [*self.collector.start_clock()]
        return []

    def resume(self) -> list[Out]:
        # Cancel the clock of the prompt before, or it fires during the replay (see IdentifyStep).
        return [] if self.done else [CancelTimer(digits.TIMER), *self._offer(self.node.prompt)]

    def hung_up(self) -> None:
        return None

    def _chosen(self, commands: list[Command]) -> list[Out]:
        result = self.collector.result
        if result is None:
            return [*commands]
        self.ctx.facts.entries.append(result.digits)
        destination = self.node.options.get(result.digits)
        if destination is not None:
            return self._leave(commands, Goto(destination))
        retry = self.node.timeout_prompt if not result.digits else self.node.invalid_prompt
        if self.attempt >= self.node.attempts:
            why = "no choice" if not result.digits else f"invalid key {result.digits!r}"
            self.ctx.facts.notes.append(f"menu {self.name}: {why} on the last of {self.attempt} attempt(s)")
            return self._leave(commands, Goto(self.node.on_failure))
        self.attempt += 1
        return [*commands, *self._offer((*retry, *self.node.prompt))]

    def _leave(self, commands: list[Command], goto: Goto) -> list[Out]:
        self.done = True
        return [*commands, CancelTimer(digits.TIMER), goto]
