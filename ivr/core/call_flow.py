"""One call through a flow: enters the entry node of the dialled number, runs each node's step,
and follows the destinations they choose until the call hangs up or leaves for the dialplan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ivr.core.callback_request import CallbackStep
from ivr.core.caller_id import cut_notes
from ivr.core.campaign import CampaignStep
from ivr.core.commands import Answer, Command, ContinueInDialplan, Finished, Hangup, SetVariable, Warn
from ivr.core.destinations import HANG_UP, Destination
from ivr.core.events import CallStarted, DigitPressed, Event, HungUp, PlaybackFinished, Resumed
from ivr.core.facts import CallFacts
from ivr.core.flow import Flow
from ivr.core.identify import IdentifyStep
from ivr.core.menu import MenuStep
from ivr.core.nodes import (
    CallbackRequest,
    Campaign,
    Dialplan,
    External,
    HangupNode,
    Identification,
    Menu,
    Message,
    Node,
    TimeCondition,
    Voicemail,
)
from ivr.core.place import Place
from ivr.core.player import Player
from ivr.core.step import CallContext, Goto, Out, Step

MAX_HOPS = 30
REQUEUE = "requeue"
"""The route of a caller coming back from the dialplan's requeue loop (``[ivr-requeue]``)."""
CAMPAIGN_CONTEXT = "ivr-campaign"
VOICEMAIL = ("ivr-voicemail", "s", 1)
DIAL = ("ivr-dial", "s", 1)


class MessageStep:
    """Play a prompt, then go on (or hang up with ``cause`` when there is nowhere to go)."""

    def __init__(self, media: tuple[str, ...], then: Destination, ctx: CallContext) -> None:
        self.media = media
        self.then = then
        self.ctx = ctx

    def start(self) -> list[Out]:
        return [*self.ctx.player.play(self.media)]

    def handle(self, event: Event) -> list[Out]:
        if isinstance(event, PlaybackFinished) and self.ctx.player.finished(event.playback_id):
            return [Goto(self.then)]
        return []

    def resume(self) -> list[Out]:
        return self.start()

    def hung_up(self) -> None:
        return None


class CallFlow:
    def __init__(self, call_id: str, flow: Flow, now: Callable[[], datetime]) -> None:
        self.flow = flow
        self.now = now
        self.ctx = CallContext(call_id, flow, Player(call_id), CallFacts(), now=now)
        self.step: Step | None = None
        self.hops = 0
        self.done = False
        self.hangup_cause = "normal"
        """For a hang-up node with a prompt: the cause to hang up with once it has played."""

    @property
    def facts(self) -> CallFacts:
        return self.ctx.facts

    def handle(self, event: Event) -> list[Command]:
        if self.done:
            return []
        match event:
            case CallStarted() if self.step is None:
                return self._start(event)
            case HungUp(cause=cause):
                if self.step is not None:
                    self.step.hung_up()
                return self._end(f"caller hung up ({cause})", [])
            case Resumed():
                return self._follow(self.step.resume()) if self.step else []
            case DigitPressed(digit=digit):
                if self._late_terminator(digit):
                    return []
                self.hops = 0  # a caller choosing again and again is not a loop of the flow
        return self._follow(self.step.handle(event)) if self.step else []

    def _late_terminator(self, digit: str) -> bool:
        """The terminator typed just after an entry that was already complete."""
        late, self.ctx.late_terminator = self.ctx.late_terminator, None
        return late is not None and digit == late[0] and self.now() <= late[1]

    def _start(self, event: CallStarted) -> list[Command]:
        self.ctx.caller, self.ctx.did, self.ctx.caller_name = event.caller, event.exten, event.caller_name
        self.facts.notes.extend(cut_notes(caller=event.caller, did=event.exten))
        if (rejoin := self._rejoin(event)) is not None:
            return rejoin
        entry = self.flow.entry(event.exten)
        if entry is None:
            return self._end(f"no entry node for {event.exten!r}",
                             [Warn(f"no entry node for number {event.exten!r} in {self.flow.source}"),
                              Hangup("unallocated")])
        return [Answer(), SetVariable("IVR_ENTRY", str(entry)), *self._follow([Goto(entry)])]

    def _rejoin(self, event: CallStarted) -> list[Command] | None:
        """A caller of an earlier process who was waiting in a campaign keeps its place."""
        waiting = Place.parse(event.waiting) if event.resumed or event.route == REQUEUE else None
        node = self.flow.nodes.get(Destination("campaign", waiting.campaign)) if waiting else None
        if waiting is None or not isinstance(node, Campaign) or not node.runs_in_app:
            return None
        self.ctx.facts.customer_id = event.customer_id
        self.facts.nodes.append(f"campaign:{waiting.campaign}")
        self.facts.notes.append(f"campaign {waiting.campaign}: taken back after an app restart")
        step = CampaignStep(waiting.campaign, node, self.ctx, waiting)
        self.step = step
        return self._follow(step.start())

    def _follow(self, outs: list[Out]) -> list[Command]:
        commands: list[Command] = []
        pending = list(outs)
        while pending and not self.done:
            out = pending.pop(0)
            if isinstance(out, Goto):
                pending = self._enter(out.destination)
            else:
                commands.append(out)
        if self.done:
            commands.extend(c for c in pending if not isinstance(c, Goto))
        return commands

    def _enter(self, destination: Destination) -> list[Out]:
        self.hops += 1
        if self.hops > MAX_HOPS:
            return [*self._end(f"flow loop: more than {MAX_HOPS} nodes", [
                Warn(f"flow loop: more than {MAX_HOPS} nodes visited, last {destination}; "
                     f"hanging up"), Hangup("normal")])]
        self.facts.nodes.append(str(destination))
        self.facts.destination = str(destination)
        self.step = None
        if destination == HANG_UP:
            return [*self._end("hung up by the flow", [Hangup(self.hangup_cause)])]
        node = self.flow.nodes[destination]
        return self._node(destination.name, node)

    def _node(self, name: str, node: Node) -> list[Out]:
        ctx = self.ctx
        match node:
            case Identification():
                return self._step(IdentifyStep(name, node, ctx))
            case Menu():
                return self._step(MenuStep(name, node, ctx))
            case Message(prompt=prompt, then=then):
                return self._step(MessageStep(prompt, then, ctx))
            case HangupNode(prompt=prompt, cause=cause) if prompt:
                self.hangup_cause = cause
                return self._step(MessageStep(prompt, HANG_UP, ctx))
            case HangupNode(cause=cause):
                return [*self._end("hung up by the flow", [Hangup(cause)])]
            case TimeCondition():
                is_open = self.flow.is_open(node, self.now())
                self.facts.notes.append(f"time {name}: {'open' if is_open else 'closed'}")
                return [Goto(node.on_match if is_open else node.otherwise)]
            case CallbackRequest():
                return self._step(CallbackStep(name, node, ctx))
            case Campaign() if node.runs_in_app:
                return self._step(CampaignStep(name, node, ctx))
            case Campaign():
                return self._hand_off(f"campaign {name}", [SetVariable("__IVR_CAMPAIGN", name)],
                                      (CAMPAIGN_CONTEXT, name, 1))
            case Voicemail(box=box):
                return self._hand_off(f"voicemail {box}", [SetVariable("IVR_VOICEMAIL_BOX", box)],
                                      VOICEMAIL)
            case Dialplan(context=context, exten=exten, priority=priority):
                return self._hand_off(f"dialplan {context},{exten},{priority}", [],
                                      (context, exten, priority))
            case External(trunk=trunk_name, number=number):
                trunk = self.flow.trunks[trunk_name]
                return self._hand_off(f"external {number} by trunk {trunk_name}", [
                    SetVariable("IVR_DIAL", trunk.dial.replace("{number}", number)),
                    SetVariable("IVR_DIAL_TIMEOUT", str(trunk.timeout))], DIAL)
        raise TypeError(f"no step for {type(node).__name__}")

    def _step(self, step: Step) -> list[Out]:
        self.step = step
        return step.start()

    def _hand_off(self, what: str, variables: list[Command],
                  where: tuple[str, str, int]) -> list[Out]:
        return [*self._end(f"sent to {what}", [*variables, ContinueInDialplan(*where)])]

    def _end(self, outcome: str, commands: list[Command]) -> list[Command]:
        self.done = True
        self.step = None
        return [*commands, Finished(outcome, self.facts)]
