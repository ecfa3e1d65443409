"""The callback node: a caller asks to be called back instead of waiting.

The three steps of the reference flow designer, as one node:
- **Start**: entering the node; the caller is out of the campaign's line and its place is kept
  (``CallContext.place``), whether it came from the line (the campaign's ``callback_key``, or
  ``callback_only``) or from the IVR before any campaign (its place is then its arrival here).
- **Register**: the number (the caller's own, or keyed in), checked, read back and confirmed,
  then an optional message for the agent; the request is stored, and only once it is stored is
  the caller told so.
- **Decline**: ``decline_key`` at any prompt, a number never accepted, or a request the store
  refuses or cannot take: the caller goes back into the line at its place (or, for a
  ``callback_only`` campaign, is told and hung up). A caller who hangs up before the request is
  stored leaves none: its record says it abandoned.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ivr.core import digits
from ivr.core.callbacks import Limits, NewCallback, RetryPolicy
from ivr.core.commands import (
    CancelTimer,
    Command,
    RecordMessage,
    RegisterCallback,
    SetVariable,
    StartTimer,
)
from ivr.core.destinations import HANG_UP, Destination
from ivr.core.digits import DigitCollector, DigitRules
from ivr.core.events import (
    CallbackRegistered,
    DigitPressed,
    Event,
    MessageRecorded,
    PlaybackFinished,
    TimerFired,
)
from ivr.core.nodes import CallbackRequest, Campaign
from ivr.core.phone_numbers import check_number, readback
from ivr.core.place import Place, crm_priority
from ivr.core.step import CallContext, Goto, Out

NUMBER_ATTEMPTS = 3
CONFIRM = "confirm"
CONFIRM_SECONDS = 5.0


class CallbackStep:
    def __init__(self, name: str, node: CallbackRequest, ctx: CallContext) -> None:
        self.name = name
        self.node = node
        self.ctx = ctx
        self.state = "start"
        self.number = ""
        self.message = ""
        self.tries = 0
        self.confirm_plays = 0
        self.collector = DigitCollector(self._rules())
        campaign = ctx.flow.nodes.get(Destination("campaign", node.campaign))
        self.only = isinstance(campaign, Campaign) and campaign.callback_only
        kept = ctx.place if ctx.place is not None and ctx.place.campaign == node.campaign else None
        self.place = kept or Place(node.campaign, crm_priority(ctx.facts.variables), ctx.now().timestamp())
        ctx.place = self.place

    def _rules(self) -> DigitRules:
        return DigitRules(20, "#", 8.0, 4.0)

    def _note(self, text: str) -> None:
        self.ctx.facts.notes.append(f"callback {self.name}: {text}")

    def start(self) -> list[Out]:
        self._note(f"started; place kept in campaign {self.place.campaign}")
        if self.node.number == "caller":
            number, refused = self._check(self.ctx.caller)
            if number:
                return self._got_number(number)
            self._note(f"the caller's own number is not one to call back ({refused}); asked")
        return self._ask_number(self.node.enter_number_prompt)

    def _ask_number(self, media: tuple[str, ...]) -> list[Out]:
        self.state = "number"
        self.tries += 1
        self.collector = DigitCollector(self._rules())
        return [*self.ctx.player.play(media)]

    def _check(self, raw: str) -> tuple[str, str]:
        """The number in E.164, or why not: checked by its country's plan, then by the trunk's
        allow list (the trunk would refuse it anyway, only later)."""
        found = check_number(raw, self.node.country, self.node.countries)
        if found.number and not self.ctx.flow.trunks[self.node.trunk].allows(found.number):
            return "", f"not in the allow list of trunk {self.node.trunk}"
        return found.number, found.refused

    def _got_number(self, number: str) -> list[Out]:
        self.number = number
        if not self.node.confirm:
            return self._ask_message()
        self.state, self.confirm_plays = "confirm", 0
        return self._confirm()

    def _confirm(self) -> list[Out]:
        """The number digit by digit, each its own sound file: Asterisk cannot stop a playback in
        the middle of a ``digits:`` media ("Could not stop playback"), and the caller's key
        would wait for the whole read-back, with every request on the channel."""
        self.confirm_plays += 1
        digits = tuple(f"sound:digits/{digit}" for digit in readback(self.number))
        return [*self.ctx.player.play((*digits, *self.node.confirm_prompt))]

    def _ask_message(self) -> list[Out]:
        if not self.node.message_seconds:
            return self._register()
        self.state = "message"
        return [*self.ctx.player.play(self.node.message_prompt)]

    def _register(self) -> list[Out]:
        self.state = "registering"
        node, facts = self.node, self.ctx.facts
        request = NewCallback(node.campaign, self.number, node.caller_id, facts.customer_id,
                              tuple(facts.variables.items()), self.place.priority,
                              datetime.fromtimestamp(self.place.since, UTC), self.message, self.ctx.call_id,
                              self.name)
        policy = RetryPolicy(node.initial_delay, node.attempts, node.retry_delay, node.expires_after)
        limits = Limits(node.max_open_per_number, node.max_per_number_per_day)
        return [RegisterCallback(request, policy, limits)]

    def handle(self, event: Event) -> list[Out]:
        match event:
            case DigitPressed(digit=digit) if digit == self.node.decline_key and self.state in (
                    "number", "confirm"):
                self._note(f"the caller pressed {digit}: back in the line")
                return [*self.ctx.player.stop(), CancelTimer(digits.TIMER), CancelTimer(CONFIRM),
                        *self._decline()]
            case DigitPressed(digit=digit) if self.state == "number":
                return [*self.ctx.player.stop(), *self._entered(self.collector.press(digit))]
            case TimerFired(name=digits.TIMER) if self.state == "number":
                return self._entered(self.collector.timeout())
            case DigitPressed(digit="1") if self.state == "confirm":
                return [*self.ctx.player.stop(), CancelTimer(CONFIRM), *self._ask_message()]
            case DigitPressed(digit="2") if self.state == "confirm":
                self.tries = 0
                return [*self.ctx.player.stop(), CancelTimer(CONFIRM),
                        *self._ask_number(self.node.enter_number_prompt)]
            case TimerFired(name=name) if name == CONFIRM and self.state == "confirm":
                if self.confirm_plays < 2:
                    return self._confirm()
                self._note("the number was not confirmed")
                return self._decline()
            case PlaybackFinished(playback_id=pid) if self.ctx.player.finished(pid):
                return self._prompt_over()
            case MessageRecorded(name=name, failed=failed) if self.state == "recording":
                if failed:
                    self._note(f"no message recorded ({failed})")
                self.message = "" if failed else name
                return self._register()
            case CallbackRegistered() if self.state == "registering":
                return self._registered(event)
        return []

    def _prompt_over(self) -> list[Out]:
        match self.state:
            case "number":
                return [*self.collector.start_clock()]
            case "confirm":
                return [StartTimer(CONFIRM, CONFIRM_SECONDS)]
            case "message":
                self.state = "recording"
                return [RecordMessage(f"ivr-callback-{self.ctx.call_id}", self.node.message_seconds,
                                      self.node.message_silence)]
            case "goodbye":
                self.state = "done"
                return [Goto(HANG_UP)]
            case "declining":
                self.state = "done"
                return [Goto(HANG_UP if self.only else Destination("campaign", self.node.campaign))]
        return []

    def _entered(self, commands: list[Command]) -> list[Out]:
        result = self.collector.result
        if result is None:
            return [*commands]
        number, refused = self._check(result.digits)
        if number:
            return [*commands, *self._got_number(number)]
        self._note(f"number refused ({refused if result.digits else 'nothing keyed'})")
        if self.tries >= NUMBER_ATTEMPTS:
            return [*commands, *self._decline()]
        again = (*self.node.invalid_number_prompt, *self.node.enter_number_prompt)
        return [*commands, *self._ask_number(again)]

    def _registered(self, answer: CallbackRegistered) -> list[Out]:
        if answer.callback_id:
            self.state = "goodbye"
            self._note(f"registered as {answer.callback_id}")
            return [SetVariable("IVR_CALLBACK", answer.callback_id),
                    *self.ctx.player.play(self.node.registered_prompt)]
        self._note(f"not registered: {answer.refused or answer.failed}")
        return [*self.ctx.player.play(self.node.not_registered_prompt), *self._declining()]

    def _decline(self) -> list[Out]:
        if not self.only:
            self.state = "done"
            return [Goto(Destination("campaign", self.node.campaign))]
        return [*self.ctx.player.play(self.node.not_registered_prompt), *self._declining()]

    def _declining(self) -> list[Out]:
        """After the prompt that says so: back into the line, or (callback only) hang up."""
        self.state = "declining"
        return []

    def resume(self) -> list[Out]:
        match self.state:
            case "number":
                return [CancelTimer(digits.TIMER), *self._ask_number(self.node.enter_number_prompt)]
            case "confirm":
                return [CancelTimer(CONFIRM), *self._confirm()]
        return []

    def hung_up(self) -> None:
        if self.state not in ("goodbye", "done"):
            self._note("the caller hung up before the request was stored (abandoned)")
