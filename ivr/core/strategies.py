"""Distribution strategies: given the agents a campaign may offer a call to, in which order.

Each strategy is one entry of ``STRATEGIES``: how it orders the available agents (best first),
and whether they are all rung at once (``ring-all``) or one at a time. Agents who just declined
or missed this call are left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.core.agents import AgentBoard, AgentProfile


@dataclass(frozen=True)
class SkillNeed:
    skill: str
    minimum: int = 1


Ordering = Callable[[list[str], AgentBoard, Sequence[SkillNeed], random.Random], list[str]]


@dataclass(frozen=True)
class Strategy:
    order: Ordering
    rings_all: bool = False
    """Offer the call to every agent in the order at once; the first to answer takes it."""


def _idle(board: AgentBoard) -> Callable[[str], float]:
    return lambda agent_id: board.status(agent_id).idle_since


def _as_listed(free: list[str], board: AgentBoard, needs: Sequence[SkillNeed],
               rng: random.Random) -> list[str]:
    return free


def _longest_idle(free: list[str], board: AgentBoard, needs: Sequence[SkillNeed],
                  rng: random.Random) -> list[str]:
    return sorted(free, key=_idle(board))


def _skills(free: list[str], board: AgentBoard, needs: Sequence[SkillNeed],
            rng: random.Random) -> list[str]:
    profiles, idle = board.agents, _idle(board)
    qualified = [a for a in free if all(profiles[a].skill(n.skill) >= n.minimum for n in needs)]
    return sorted(qualified, key=lambda a: (-_level(profiles[a], needs), idle(a)))


def _lowest_cost(free: list[str], board: AgentBoard, needs: Sequence[SkillNeed],
                 rng: random.Random) -> list[str]:
    idle = _idle(board)
    return sorted(free, key=lambda a: (board.agents[a].cost, idle(a)))


def _weighted_random(free: list[str], board: AgentBoard, needs: Sequence[SkillNeed],
                     rng: random.Random) -> list[str]:
    """Each next agent drawn with probability proportional to its weight."""
    left, order = list(free), []
    while left:
        weights = [max(board.agents[a].weight, 0) or 1 for a in left]
        chosen = rng.choices(left, weights)[0]
        order.append(chosen)
        left.remove(chosen)
    return order


STRATEGIES: dict[str, Strategy] = {
    "ring-all": Strategy(_longest_idle, rings_all=True),
    "longest-idle": Strategy(_longest_idle),
    "ordered": Strategy(_as_listed),
    "skills": Strategy(_skills),
    "lowest-cost": Strategy(_lowest_cost),
    "weighted-random": Strategy(_weighted_random),
}


def strategy_name(value: str) -> str:
    """For the flow file: a strategy's name, checked.

    >>> strategy_name("queue")
    Traceback (most recent call last):
    ValueError: expected one of ring-all, longest-idle, ordered, skills, lowest-cost, weighted-random
    """
    if value not in STRATEGIES:
        raise ValueError(f"expected one of {', '.join(STRATEGIES)}")
    return value


def candidates(strategy: str, members: Sequence[str], board: AgentBoard,
               skip: frozenset[str] = frozenset(), needs: Sequence[SkillNeed] = (),
               rng: random.Random | None = None) -> list[str]:
    """The members to offer the call to, in order."""
    free = [a for a in board.available_among(members) if a not in skip]
    return STRATEGIES[strategy].order(free, board, needs, rng or random.Random())


def _level(profile: AgentProfile, needs: Sequence[SkillNeed]) -> int:
    return sum(profile.skill(n.skill) for n in needs)
