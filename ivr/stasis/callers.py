"""A caller waiting in an app-run campaign, and the offers of its call to agents, as the
dispatcher (``ivr.stasis.campaigns``) keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.core.commands import WaitingCall
from ivr.core.nodes import Campaign
from ivr.core.waiting import Waiting


@dataclass
class Offer:
    channel_id: str
    call_id: str
    agent: str
    endpoint: str
    answered: bool = False
    withdrawn: bool = False
    bridged: bool = False


@dataclass
class Caller:
    call_id: str
    campaign: str
    node: Campaign
    waiting: Waiting
    call: WaitingCall
    offers: set[str] = field(default_factory=set)
    bridge: str | None = None
    agent_leg: Offer | None = None
    team: tuple[str, ...] | None = None
    stored_agent: str = ""
    asking: set[str] = field(default_factory=set)
    """What the caller waits on before it is offered: ``team``, ``own agent``."""

    def call_data(self) -> dict[str, Any]:
        """What the dynamic team service and the agents' screen pop are told of the call."""
        call = self.call
        return {"call": self.call_id, "campaign": self.campaign, "caller": call.caller, "did": call.did,
                "customer_id": call.customer_id, "variables": dict(call.crm_variables)}

    def crm_agent(self) -> str:
        return dict(self.call.crm_variables).get("agent", "") if self.node.prefer_crm_agent else ""

    def preferred(self, agent_names: Mapping[str, str]) -> str:
        """The customer's own agent: as the CRM named it (``agent`` variable: id or email), or
        else as stored for the customer (``agent_names``: Flow.agent_names)."""
        named = self.crm_agent() or self.stored_agent
        return agent_names.get(named, named)
