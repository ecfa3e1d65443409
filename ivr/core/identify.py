"""The identification node: ask for a customer ID by DTMF, check it, ask the CRM, route the call.

Input ends at the expected length or at the terminator (one typed anyway right after a full-length
entry is dropped, not left to the next node). No input, a key other than 0-9 (``*``,
or ``#`` when it is not the terminator), or a length other than the expected one uses up an
attempt (so does refusing the read-back, when ``confirm`` is on); after the last attempt the call
goes to ``on_not_identified``. A CRM that cannot answer sends the call
to ``on_unavailable`` (default: ``on_not_identified``), with the reason in the log and the record.
"""

from __future__ import annotations

from datetime import timedelta

from ivr.core import digits
from ivr.core.commands import AskCrm, CancelTimer, Command, SetVariable, StartMoh, StartTimer, StopMoh, Warn
from ivr.core.crm_answer import Identified, Interaction, NotIdentified, Routed, Unavailable
from ivr.core.destinations import Destination
from ivr.core.digits import Collected, DigitCollector, DigitRules
from ivr.core.events import CrmAnswered, DigitPressed, Event, PlaybackFinished, TimerFired
from ivr.core.nodes import NODE_KINDS, Identification
from ivr.core.step import CallContext, Goto, Out

CONFIRM_KEY = "1"
HOLD_TIMER = "hold-music"


class IdentifyStep:
    def __init__(self, name: str, node: Identification, ctx: CallContext) -> None:
        self.name = name
        self.node = node
        self.ctx = ctx
        self.attempt = 1
        self.state = "entering"
        self.collector = DigitCollector(self._entry_rules())
        self.entry = ""
        self.on_hold = False
        self.music_due = False
        """The hold music waits for ``hold_music_after`` (its timer runs)."""

    def _entry_rules(self) -> DigitRules:
        node = self.node
        return DigitRules(node.expected_length or node.max_length, node.terminator, node.timeout,
                          node.inter_digit_timeout)

    def start(self) -> list[Out]:
        return self._ask_entry(self.node.prompt)

    def _ask_entry(self, media: tuple[str, ...]) -> list[Out]:
        self.state = "entering"
        self.collector = DigitCollector(self._entry_rules())
        return [*self.ctx.player.play(media)]

    def handle(self, event: Event) -> list[Out]:
        match event:
            case DigitPressed(digit=digit) if self.state in ("entering", "confirming"):
                if self.state == "confirming" and digit == self.node.terminator:
                    return []
                stop = [] if self.collector.digits else self.ctx.player.stop()
                return [*stop, *self._collected(self.collector.press(digit))]
            case TimerFired(name=digits.TIMER) if self.state in ("entering", "confirming"):
                return self._collected(self.collector.timeout())
            case PlaybackFinished(playback_id=pid) if self.ctx.player.finished(pid):
                if self.state == "asking":
                    return self._hold_music()
                return [*self.collector.start_clock()]
            case TimerFired(name=name) if name == HOLD_TIMER and self.state == "asking":
                self.music_due = False
                return self._hold_music() if self.ctx.player.playing is None and not self.on_hold else []
            case CrmAnswered() if self.state == "asking":
                return self._answered(event)
        return []

    def resume(self) -> list[Out]:
        if self.state == "asking":
            return self._hold_music() if self.ctx.player.playing is None else []
        if self.collector.digits:
            return [*self.collector.resume()]
        # The first-digit clock may still be running: left alone, it would fire during the
        # replayed prompt and use up an attempt the caller never had.
        if self.state == "confirming":
            return [CancelTimer(digits.TIMER), *self._confirm()]
        return [CancelTimer(digits.TIMER), *self._ask_entry(self.node.prompt)]

    def hung_up(self) -> None:
        if self.state == "asking":
            self.ctx.facts.crm_outcome = "cancelled"
            self.ctx.facts.crm_reason = "the caller hung up during the lookup"

    def _collected(self, commands: list[Command]) -> list[Out]:
        result = self.collector.result
        if result is None:
            return [*commands]
        if self.state == "confirming":
            return [*commands, *self._confirmed(result)]
        return [*commands, *self._entered(result)]

    def _entered(self, result: Collected) -> list[Out]:
        entry = result.digits
        self.ctx.facts.entries.append(entry)
        if result.ended_by == "length" and self.node.terminator:
            grace = timedelta(seconds=self.node.inter_digit_timeout)
            self.ctx.late_terminator = (self.node.terminator, self.ctx.now() + grace)
        if not entry:
            return self._failed_attempt(self.node.no_input_prompt, "no input")
        if not entry.isdigit():
            return self._failed_attempt(self.node.invalid_prompt, "a key other than 0-9 in the entry")
        expected = self.node.expected_length
        if expected and len(entry) != expected:
            return self._failed_attempt(self.node.invalid_prompt,
                                        f"{len(entry)} digit(s) entered, {expected} expected")
        self.entry = entry
        if self.node.confirm:
            return self._confirm()
        return self._decide()

    def _confirm(self) -> list[Out]:
        self.state = "confirming"
        timeout = self.node.timeout
        self.collector = DigitCollector(DigitRules(1, "", timeout, timeout))
        return [*self.ctx.player.play(("sound:ivr/you-entered", f"digits:{self.entry}",
                                       *self.node.confirm_prompt))]

    def _confirmed(self, result: Collected) -> list[Out]:
        if result.digits == CONFIRM_KEY:
            return self._decide()
        refusal = f"read-back refused with {result.digits!r}" if result.digits else "read-back not confirmed"
        return self._failed_attempt((), refusal)

    def _failed_attempt(self, media: tuple[str, ...], why: str) -> list[Out]:
        if self.attempt >= self.node.attempts:
            return self._route(self.node.on_not_identified, "not-identified",
                               f"{why} on the last of {self.node.attempts} attempt(s)")
        self.attempt += 1
        return self._ask_entry((*media, *self.node.prompt))

    def _decide(self) -> list[Out]:
        node, facts = self.node, self.ctx.facts
        facts.customer_id = self.entry
        remember = SetVariable("__IVR_CUSTOMER_ID", self.entry)
        if node.interaction is Interaction.NONE:
            return [remember, *self._route(node.identified, "identified")]
        self.state = "asking"
        extras = (("callerId", self.ctx.caller), ("did", self.ctx.did)) if node.send_caller else ()
        out: list[Out] = [AskCrm(self.name, node.url, self.entry, node.interaction, node.user_agent,
                                 node.deadline, node.authorization_env, extras,
                                 (node.breaker_failures, node.breaker_cooldown)), remember]
        if node.hold_prompt:
            return [*out, *self.ctx.player.play(node.hold_prompt)]
        if node.hold_music_after:
            # A CRM answering within a moment is not made to start and stop the music.
            self.music_due = True
            return [*out, StartTimer(HOLD_TIMER, node.hold_music_after)]
        return [*out, *self._hold_music()]

    def _hold_music(self) -> list[Out]:
        self.on_hold = True
        return [StartMoh(self.node.hold_music)]

    def _answered(self, event: CrmAnswered) -> list[Out]:
        facts, node = self.ctx.facts, self.node
        facts.crm_seconds = event.seconds
        out: list[Out] = [*self.ctx.player.stop()]
        if self.music_due:
            self.music_due = False
            out.append(CancelTimer(HOLD_TIMER))
        if self.on_hold:
            self.on_hold = False
            out.append(StopMoh())
        answer = event.answer
        if isinstance(answer, Unavailable):
            facts.crm_outcome, facts.crm_reason = "unavailable", answer.reason
            return [*out, Warn(f"identification {self.name}: CRM unavailable: {answer.reason}"),
                    SetVariable("IVR_CRM_REASON", answer.reason),
                    *self._route(node.failure, "unavailable")]
        for key, value in answer.variables:
            facts.variables[key] = value
            out.append(SetVariable(f"__IVR_CRM_{key.upper()}", value))
        if isinstance(answer, Identified):
            facts.crm_outcome = "identified"
            return [*out, *self._route(node.identified, "identified")]
        if isinstance(answer, NotIdentified):
            facts.crm_outcome = "not-identified"
            return [*out, *self._route(node.on_not_identified, "not-identified")]
        return [*out, *self._routed(answer)]

    def _routed(self, answer: Routed) -> list[Out]:
        pair = f"{answer.type_code},{answer.destination_id}"
        destination = self.ctx.flow.by_code(answer.type_code, answer.destination_id)
        if destination is None:
            reason = f"destination {pair} is not configured"
            self.ctx.facts.crm_outcome, self.ctx.facts.crm_reason = "unavailable", reason
            return [Warn(f"identification {self.name}: CRM answer refused: {reason}"),
                    SetVariable("IVR_CRM_REASON", reason),
                    *self._route(self.node.failure, "unavailable")]
        self.ctx.facts.crm_outcome = f"routed {pair}"
        return self._route(destination, "identified")

    def _route(self, destination: Destination, result: str, why: str = "") -> list[Out]:
        self.state = "done"
        node_id = self.ctx.flow.node_id(destination)
        code = NODE_KINDS[destination.kind].code
        if why:
            self.ctx.facts.notes.append(f"identification {self.name}: {why}")
        return [*self.ctx.player.stop(), CancelTimer(digits.TIMER),
                SetVariable("IVR_RESULT", result),
                SetVariable("IVR_DESTINATION", str(destination)),
                SetVariable("IVR_DESTINATION_TYPE", str(code or destination.kind)),
                SetVariable("IVR_DESTINATION_ID", "" if node_id is None else str(node_id)),
                Goto(destination)]
