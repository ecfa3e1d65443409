"""A caller in an app-run campaign: music while waiting, bridged with the agent who answers,
or sent on after the longest wait the campaign allows; with ``remember_agent``, asked after the
call whether to keep that agent."""

from __future__ import annotations

from ivr.core.commands import (
    AskPosition,
    CancelTimer,
    ConnectAgent,
    JoinCampaign,
    LeaveCampaign,
    RememberAgent,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
    WaitingCall,
)
from ivr.core.destinations import HANG_UP, Destination
from ivr.core.events import (
    AgentAnswered,
    AgentConnected,
    AgentHungUp,
    BackendPlay,
    BackendSend,
    BackendSetVariables,
    CampaignNote,
    DigitPressed,
    Event,
    OwnAgentBusy,
    PlaybackFinished,
    PulledToVoicemail,
    QueuePosition,
    TimerFired,
)
from ivr.core.nodes import Campaign
from ivr.core.place import Place, crm_priority
from ivr.core.step import CallContext, Goto, Out

MAX_WAIT = "max-wait"
ANNOUNCE = "announce"
KEEP_ANSWER = "keep-answer"
KEEP_ANSWER_SECONDS = 5.0


class CampaignStep:
    def __init__(self, name: str, node: Campaign, ctx: CallContext, rejoin: Place | None = None) -> None:
        self.name = name
        self.node = node
        self.ctx = ctx
        self.state = "waiting"
        kept = ctx.place if ctx.place is not None and ctx.place.campaign == name else None
        self.waiting = rejoin or kept or Place(name, crm_priority(ctx.facts.variables), ctx.now().timestamp())
        self.callback_offered = False

    def start(self) -> list[Out]:
        if self.node.callback_only:
            return self._to_callback("callback only")
        waited = max(0.0, self.ctx.now().timestamp() - self.waiting.since)
        return [SetVariable("__IVR_CAMPAIGN", self.name), SetVariable("IVR_WAITING", str(self.waiting)),
                StartMoh(self.node.music),
                JoinCampaign(self.name, self.waiting.priority, self._call(), waited),
                StartTimer(MAX_WAIT, max(1.0, self.node.max_wait - waited)), *self._next_announcement()]

    def _next_announcement(self) -> list[Out]:
        return [StartTimer(ANNOUNCE, self.node.announce_every)] if self.node.announce_every else []

    def _call(self) -> WaitingCall:
        facts = self.ctx.facts
        return WaitingCall(self.ctx.caller, self.ctx.did, facts.customer_id, tuple(facts.variables.items()),
                           self.ctx.caller_name)

    def handle(self, event: Event) -> list[Out]:
        match event:
            case DigitPressed(digit=digit) if self.state == "waiting" and digit == self.node.exit_key:
                self.state = "done"
                self.ctx.facts.notes.append(f"campaign {self.name}: the caller pressed {digit} to leave")
                assert self.node.on_exit is not None
                return [*self.ctx.player.stop(), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE),
                        LeaveCampaign(self.name, f"the caller pressed {digit} to leave", "key", digit),
                        StopMoh(), SetVariable("IVR_WAITING", ""), Goto(self.node.on_exit)]
            case DigitPressed(digit=digit) if self.state == "waiting" and digit == self.node.callback_key:
                return [*self.ctx.player.stop(), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE),
                        LeaveCampaign(self.name, "the caller asked for a callback", "callback"), StopMoh(),
                        SetVariable("IVR_WAITING", ""), *self._to_callback(f"the caller pressed {digit}")]
            case TimerFired(name=name) if name == ANNOUNCE and self.state == "waiting":
                return [AskPosition(self.name)]
            case QueuePosition() if self.state == "waiting":
                return [StopMoh(), *self.ctx.player.play((*announcement(event),
                                                          *self._callback_offer(event)))]
            case OwnAgentBusy(agent=agent) if self.state == "waiting":
                self.ctx.facts.notes.append(f"campaign {self.name}: own agent {agent} not available")
                if not self.node.own_agent_busy_prompt:
                    return []
                return [StopMoh(), *self.ctx.player.play(self.node.own_agent_busy_prompt)]
            case PlaybackFinished(playback_id=pid) if self.ctx.player.finished(pid):
                if self.state == "asking":
                    return [StartTimer(KEEP_ANSWER, KEEP_ANSWER_SECONDS)]
                if self.state != "waiting":
                    return []
                return [StartMoh(self.node.music), *self._next_announcement()]
            case AgentAnswered() if self.state == "waiting":
                # Asterisk adds the caller to the agent's bridge only once a prompt is over: the
                # prompt stops first, and no announcement and no music may start now.
                self.state = "connecting"
                return [*self.ctx.player.stop(), CancelTimer(ANNOUNCE), ConnectAgent()]
            case AgentConnected(agent=agent) if self.state in ("waiting", "connecting"):
                self.state = "talking"
                self.ctx.facts.agent = agent
                # IVR_WAITING stays: IVR_AGENT tells a restarted app the call is no longer waiting.
                return [*self.ctx.player.stop(), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE), StopMoh(),
                        SetVariable("IVR_AGENT", agent)]
            case AgentHungUp(agent=agent) if self.state == "connecting":
                self.state = "waiting"
                self.ctx.facts.notes.append(f"campaign {self.name}: agent {agent} lost before the bridge")
                return [StartMoh(self.node.music), *self._next_announcement()]
            case AgentHungUp(agent=agent) if self.state == "talking":
                self.ctx.facts.notes.append(f"campaign {self.name}: agent {agent} hung up first")
                if self.node.remember_agent and self.ctx.facts.customer_id:
                    self.state = "asking"
                    return [*self.ctx.player.play(self.node.keep_agent_prompt)]
                self.state = "done"
                return [Goto(HANG_UP)]
            case DigitPressed(digit=digit) if self.state == "asking" and digit in ("1", "2"):
                self.state = "done"
                agent, keep = self.ctx.facts.agent, digit == "1"
                self.ctx.facts.notes.append(
                    f"campaign {self.name}: the caller {'keeps' if keep else 'does not keep'} agent {agent}")
                return [*self.ctx.player.stop(), CancelTimer(KEEP_ANSWER),
                        RememberAgent(self.ctx.facts.customer_id, agent if keep else ""), Goto(HANG_UP)]
            case TimerFired(name=name) if name == KEEP_ANSWER and self.state == "asking":
                self.state = "done"
                self.ctx.facts.notes.append(f"campaign {self.name}: no answer on keeping the agent")
                return [Goto(HANG_UP)]
            case CampaignNote(text=text):
                self.ctx.facts.notes.append(f"campaign {self.name}: {text}")
            case TimerFired(name=name) if name == MAX_WAIT and self.state in ("waiting", "connecting"):
                self.state = "done"
                why = f"no {'staff took it' if self.node.pull else 'agent'} within {self.node.max_wait:g} s"
                self.ctx.facts.notes.append(f"campaign {self.name}: {why}")
                return [*self.ctx.player.stop(), CancelTimer(ANNOUNCE),
                        LeaveCampaign(self.name, why, "timeout"), StopMoh(), SetVariable("IVR_WAITING", ""),
                        Goto(self.node.on_max_wait)]
            case BackendPlay(media=media) if self.state == "waiting":
                return [StopMoh(), CancelTimer(ANNOUNCE), *self.ctx.player.play(media)]
            case BackendSend(destination=destination) if self.state == "waiting":
                self.state = "done"
                why = f"sent to {destination} by the backend"
                self.ctx.facts.notes.append(f"campaign {self.name}: {why}")
                return [*self.ctx.player.stop(), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE),
                        LeaveCampaign(self.name, why), StopMoh(), SetVariable("IVR_WAITING", ""),
                        Goto(destination)]
            case BackendSetVariables(variables=variables):
                self.ctx.facts.variables.update(variables)
                return [SetVariable(name, value) for name, value in variables]
            case PulledToVoicemail(agent=who, via=via) if self.state == "waiting" and self.node.voicemail_to:
                self.state = "done"
                why = f"sent to voicemail by {who} ({via})"
                self.ctx.facts.notes.append(f"campaign {self.name}: {why}")
                return [*self.ctx.player.stop(), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE),
                        LeaveCampaign(self.name, why), StopMoh(), SetVariable("IVR_WAITING", ""),
                        Goto(self.node.voicemail_to)]
        return []

    def _callback_offer(self, where: QueuePosition) -> tuple[str, ...]:
        """Once, when the estimated wait reaches ``callback_after``: press the key to be called back."""
        after = self.node.callback_after
        short = where.wait_minutes is None or where.wait_minutes * 60 < after
        if not after or self.callback_offered or short:
            return ()
        self.callback_offered = True
        return self.node.callback_prompt

    def _to_callback(self, why: str) -> list[Out]:
        """Start callback: out of the line, the place kept for a decline."""
        self.state = "done"
        self.ctx.place = self.waiting
        self.ctx.facts.notes.append(f"campaign {self.name}: to callback {self.node.callback} ({why})")
        return [Goto(Destination("callback", self.node.callback))]

    def resume(self) -> list[Out]:
        return [StartMoh(self.node.music)] if self.state == "waiting" else []

    def hung_up(self) -> None:
        if self.state == "asking":
            self.ctx.facts.notes.append(f"campaign {self.name}: the caller hung up before keeping the agent")
        elif self.state in ("waiting", "connecting", "talking"):
            when = "first" if self.state == "talking" else "while waiting"
            self.ctx.facts.notes.append(f"campaign {self.name}: the caller hung up {when}")


def announcement(where: QueuePosition) -> tuple[str, ...]:
    """Asterisk's own queue prompts: "you are next in line", or "there are N calls waiting",
    then "the estimated hold time is currently N minutes" when it is known.

    >>> announcement(QueuePosition(3, 4))[:3]
    ('sound:queue-thereare', 'number:2', 'sound:queue-callswaiting')
    >>> announcement(QueuePosition(1, 4))[1:]
    ('sound:queue-holdtime', 'number:4', 'sound:queue-minutes')
    """
    if where.position <= 1:
        media: tuple[str, ...] = ("sound:queue-youarenext",)
    else:
        media = ("sound:queue-thereare", f"number:{where.position - 1}", "sound:queue-callswaiting")
    if where.wait_minutes:
        media += ("sound:queue-holdtime", f"number:{where.wait_minutes}", "sound:queue-minutes")
    return media
