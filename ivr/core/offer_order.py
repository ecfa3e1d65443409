"""Who is offered a waiting call next: the customer's own agent, else the dynamic team's list,
else the campaign's strategy, else (after the overflow threshold) the spares."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.core.agents import AgentBoard
from ivr.core.nodes import Campaign
from ivr.core.strategies import SkillNeed, candidates


@dataclass(frozen=True)
class Spares:
    """What overflow depends on, now."""

    waited: float
    """Seconds the caller has waited."""
    in_hours: bool
    """Within the campaign's ``overflow_hours`` (or it has none)."""
    answered_today: Mapping[str, int] = field(default_factory=dict)
    """Overflow calls each spare has answered today."""


@dataclass(frozen=True)
class Order:
    agents: list[str]
    own_agent_busy: str = ""
    """The customer's own agent, who cannot take the call now: skip them for this round."""


def offer_order(node: Campaign, board: AgentBoard, skipped: frozenset[str], own_agent: str,
                team: tuple[str, ...] | None, spares: Spares, rng: random.Random | None = None) -> Order:
    """The agents to ring, in order (ring-all rings them all), among those available and not
    skipped for this call."""
    busy = ""
    if own_agent and own_agent in board.agents and own_agent not in skipped:
        if board.available(own_agent):
            return Order([own_agent])
        busy, skipped = own_agent, skipped | {own_agent}
    if team is not None:
        order = [a for a in board.available_among(team) if a not in skipped]
    else:
        needs = [SkillNeed(skill, level) for skill, level in node.skills.items()]
        order = candidates(node.strategy, node.agents, board, skipped, needs, rng)
    return Order(order or spare_order(node, board, skipped, spares), busy)


def spare_order(node: Campaign, board: AgentBoard, skipped: frozenset[str], spares: Spares) -> list[str]:
    """Overflow: once the caller has waited ``overflow_after`` with nobody free, the spares in
    their order, within their hours and their daily limit."""
    if not node.overflow_after or spares.waited < node.overflow_after or not spares.in_hours:
        return []
    limit = node.overflow_daily_limit
    return [a for a in board.available_among(node.overflow_agents) if a not in skipped
            and not (limit and spares.answered_today.get(a, 0) >= limit)]
