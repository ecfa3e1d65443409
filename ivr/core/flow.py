"""A loaded flow: its nodes by destination, the entry node of each dialled number, the compiled
time groups and trunks. Immutable, so a reload swaps it whole and calls in progress keep theirs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from ivr.core.destinations import Destination
from ivr.core.flow_tables import Agent, Trunk
from ivr.core.nodes import KIND_OF_CODE, Campaign, Coded, Node, TimeCondition
from ivr.core.timegroups import TimeRule

DEFAULT_ENTRY = "default"


@dataclass(frozen=True)
class Flow:
    nodes: Mapping[Destination, Node]
    entries: Mapping[str, Destination]
    timegroups: Mapping[str, tuple[TimeRule, ...]] = field(default_factory=dict)
    trunks: Mapping[str, Trunk] = field(default_factory=dict)
    zones: Mapping[str, ZoneInfo] = field(default_factory=dict)
    source: str = ""
    agents: Mapping[str, Agent] = field(default_factory=dict)

    @cached_property
    def agent_names(self) -> Mapping[str, str]:
        """Each agent's id, and email, -> its id: a CRM or a team service names agents either way.

        >>> from ivr.core.flow_tables import Agent
        >>> dict(Flow({}, {}, agents={"ana": Agent(phone="register", email="ana@x.es")}).agent_names)
        {'ana': 'ana', 'ana@x.es': 'ana'}
        """
        return {**{name: name for name in self.agents},
                **{agent.email: name for name, agent in self.agents.items() if agent.email}}

    def agent_endpoint(self, name: str) -> str:
        """What rings the agent: their own PJSIP endpoint, or their number through the trunk.

        >>> from ivr.core.flow_tables import Agent, Trunk
        >>> flow = Flow({}, {}, trunks={"pstn": Trunk(dial="PJSIP/{number}@pstn", allow=("+34*",))},
        ...             agents={"ana": Agent(phone="register"), "pat": Agent(phone="+34600", trunk="pstn")})
        >>> flow.agent_endpoint("ana"), flow.agent_endpoint("pat")
        ('PJSIP/agent-ana', 'PJSIP/+34600@pstn')
        """
        agent = self.agents[name]
        if agent.trunk:
            return self.trunks[agent.trunk].dial.replace("{number}", agent.phone)
        return f"PJSIP/agent-{name}"

    def pull_gaps(self, texting: bool) -> list[str]:
        """What keeps a pull campaign's staff from being texted (``texting``: an SMS gateway is
        configured): worth a warning, not an error, since calls can be pulled through the API.

        >>> from ivr.core.nodes import Campaign
        >>> front = Campaign(agents=("ana", "bo"), mode="pull")
        >>> Flow({Destination("campaign", "front"): front}, {},
        ...      agents={"ana": Agent(phone="register", mobile="+34600000001"),
        ...              "bo": Agent(phone="register")}).pull_gaps(texting=True)
        ['pull campaign front: agent bo has no mobile: not texted']
        """
        gaps = []
        for destination, node in self.nodes.items():
            if not isinstance(node, Campaign) or not node.pull:
                continue
            if not texting:
                gaps.append(f"pull campaign {destination.name}: no SMS gateway ([sms] gateway): nobody is "
                             f"texted; calls can only be pulled through the API")
                continue
            gaps += [f"pull campaign {destination.name}: agent {name} has no mobile: not texted"
                     for name in node.agents if name in self.agents and not self.agents[name].mobile]
        return gaps

    def entry(self, exten: str) -> Destination | None:
        return self.entries.get(exten) or self.entries.get(DEFAULT_ENTRY)

    def by_code(self, code: int, node_id: int) -> Destination | None:
        """The node a CRM's ``"X,Y"`` names, if the admin configured one."""
        kind = KIND_OF_CODE.get(code)
        for destination, node in self.nodes.items():
            if destination.kind == kind and isinstance(node, Coded) and node.id == node_id:
                return destination
        return None

    def node_id(self, destination: Destination) -> int | None:
        node = self.nodes.get(destination)
        return node.id if isinstance(node, Coded) else None

    def is_open(self, condition: TimeCondition, moment: datetime) -> bool:
        """Whether the moment (aware, any zone) is in an ``open`` group and in no ``closed`` one."""
        return (self.within(condition.open, condition.timezone, moment)
                and not self.within(condition.closed, condition.timezone, moment))

    def within(self, groups: tuple[str, ...], timezone: str, moment: datetime) -> bool:
        """Whether the moment falls in any of the time groups, on the zone's wall clock."""
        local = moment.astimezone(self.zones[timezone])
        return any(rule.matches(local) for group in groups for rule in self.timegroups[group])
