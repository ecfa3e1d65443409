"""A caller in an app-run campaign: music while waiting, bridged with the agent who answers,
or sent on after the longest wait the campaign allows."""

from __future__ import annotations

from ivr.core.commands import (
    CancelTimer,
    JoinCampaign,
    LeaveCampaign,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
)
from ivr.core.destinations import HANG_UP
from ivr.core.events import AgentConnected, AgentHungUp, CampaignNote, Event, TimerFired
from ivr.core.nodes import Campaign
from ivr.core.step import CallContext, Goto, Out

MAX_WAIT = "max-wait"
DEFAULT_PRIORITY = 5
"""Callers without a CRM ``priority`` (1 most urgent .. 9)."""


class CampaignStep:
    def __init__(self, name: str, node: Campaign, ctx: CallContext) -> None:
        self.name = name
        self.node = node
        self.ctx = ctx
        self.state = "waiting"

    def start(self) -> list[Out]:
        return [SetVariable("__IVR_CAMPAIGN", self.name), StartMoh(self.node.music),
                JoinCampaign(self.name, self._priority(), self._agent_variables()),
                StartTimer(MAX_WAIT, self.node.max_wait)]

    def _agent_variables(self) -> tuple[tuple[str, str], ...]:
        facts = self.ctx.facts
        crm = tuple((f"IVR_CRM_{key.upper()}", value) for key, value in facts.variables.items())
        customer = (("IVR_CUSTOMER_ID", facts.customer_id),) if facts.customer_id else ()
        return (*customer, *crm, ("IVR_CAMPAIGN", self.name), ("IVR_CALLER", self.ctx.caller),
                ("IVR_DID", self.ctx.did))

    def _priority(self) -> int:
        given = self.ctx.facts.variables.get("priority", "")
        return int(given) if given.isdigit() and 1 <= int(given) <= 9 else DEFAULT_PRIORITY

    def handle(self, event: Event) -> list[Out]:
        match event:
            case AgentConnected(agent=agent) if self.state == "waiting":
                self.state = "talking"
                self.ctx.facts.agent = agent
                return [CancelTimer(MAX_WAIT), StopMoh(), SetVariable("IVR_AGENT", agent)]
            case AgentHungUp(agent=agent) if self.state == "talking":
                self.state = "done"
                self.ctx.facts.notes.append(f"campaign {self.name}: agent {agent} hung up first")
                return [Goto(HANG_UP)]
            case CampaignNote(text=text):
                self.ctx.facts.notes.append(f"campaign {self.name}: {text}")
            case TimerFired(name=name) if name == MAX_WAIT and self.state == "waiting":
                self.state = "done"
                self.ctx.facts.notes.append(f"campaign {self.name}: no agent within {self.node.max_wait:g} s")
                return [LeaveCampaign(self.name), StopMoh(), Goto(self.node.on_max_wait)]
        return []

    def resume(self) -> list[Out]:
        return [StartMoh(self.node.music)] if self.state == "waiting" else []

    def hung_up(self) -> None:
        if self.state in ("waiting", "talking"):
            when = "while waiting" if self.state == "waiting" else "first"
            self.ctx.facts.notes.append(f"campaign {self.name}: the caller hung up {when}")
