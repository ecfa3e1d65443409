"""Distribution strategies: given the agents a campaign may offer a call to, in which order.

Each returns the available agents only, best first; ``ring_all`` offers them all at once and
the others one at a time. Agents who just declined or missed this call are left out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ivr.core.agents import AgentBoard, AgentProfile

Strategy = Literal["ring-all", "longest-idle", "ordered", "skills", "lowest-cost", "weighted-random"]
STRATEGIES: tuple[Strategy, ...] = ("ring-all", "longest-idle", "ordered", "skills", "lowest-cost",
                                    "weighted-random")


@dataclass(frozen=True)
class SkillNeed:
    skill: str
    minimum: int = 1


def candidates(strategy: Strategy, members: Sequence[str], board: AgentBoard,
               skip: frozenset[str] = frozenset(), needs: Sequence[SkillNeed] = (),
               rng: random.Random | None = None) -> list[str]:
    """The members to offer the call to, in order."""
    free = [a for a in board.available_among(members) if a not in skip]
    profiles = board.agents

    def idle(agent_id: str) -> float:
        return board.status(agent_id).idle_since

    match strategy:
        case "ordered":
            return free
        case "ring-all" | "longest-idle":
            return sorted(free, key=idle)
        case "skills":
            qualified = [a for a in free if all(profiles[a].skill(n.skill) >= n.minimum for n in needs)]
            return sorted(qualified, key=lambda a: (-_level(profiles[a], needs), idle(a)))
        case "lowest-cost":
            return sorted(free, key=lambda a: (profiles[a].cost, idle(a)))
        case "weighted-random":
            return _weighted_shuffle(free, profiles, rng or random.Random())
    raise ValueError(f"unknown strategy {strategy!r}")


def _level(profile: AgentProfile, needs: Sequence[SkillNeed]) -> int:
    return sum(profile.skill(n.skill) for n in needs)


def _weighted_shuffle(agents: list[str], profiles: dict[str, AgentProfile], rng: random.Random) -> list[str]:
    """Each next agent drawn with probability proportional to its weight."""
    left, order = list(agents), []
    while left:
        weights = [max(profiles[a].weight, 0) or 1 for a in left]
        chosen = rng.choices(left, weights)[0]
        order.append(chosen)
        left.remove(chosen)
    return order
