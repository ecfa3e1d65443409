"""Who is offered a waiting call next: own agent, dynamic team, strategy, spares."""

from __future__ import annotations

from ivr.core.agents import AgentBoard, AgentProfile
from ivr.core.nodes import Campaign
from ivr.core.offer_order import Order, Spares, offer_order

SALES = Campaign(agents=("ana", "bo"), strategy="ordered", overflow_after=60, overflow_agents=("spare1", "spare2"),
                 overflow_daily_limit=2)
WAITED = Spares(waited=10, in_hours=True)
OVERFLOWING = Spares(waited=61, in_hours=True)


def board(*ready: str) -> AgentBoard:
    agents = AgentBoard({n: AgentProfile(n) for n in ("ana", "bo", "cy", "spare1", "spare2")}, lambda: 0.0)
    for name in ready:
        agents.log_in(name)
    return agents


def test_the_own_agent_alone_when_available_whoever_the_strategy_would_pick() -> None:
    assert offer_order(SALES, board("ana", "bo", "cy"), frozenset(), "cy", None, WAITED) == Order(["cy"])


def test_a_busy_own_agent_is_reported_and_the_others_are_offered() -> None:
    found = offer_order(SALES, board("ana", "bo"), frozenset(), "cy", None, WAITED)

    assert found == Order(["ana", "bo"], own_agent_busy="cy")


def test_an_own_agent_already_tried_or_unknown_is_not_reported_again() -> None:
    assert offer_order(SALES, board("ana"), frozenset({"cy"}), "cy", None, WAITED) == Order(["ana"])
    assert offer_order(SALES, board("ana"), frozenset(), "zed", None, WAITED) == Order(["ana"])


def test_the_dynamic_team_replaces_the_strategy_in_its_own_order() -> None:
    found = offer_order(SALES, board("ana", "bo", "cy"), frozenset({"bo"}), "", ("cy", "bo", "ana"), WAITED)

    assert found == Order(["cy", "ana"])


def test_spares_only_after_the_threshold_in_hours_and_within_their_daily_limit() -> None:
    nobody_free = board("spare1", "spare2")

    assert offer_order(SALES, nobody_free, frozenset(), "", None, WAITED) == Order([])
    assert offer_order(SALES, nobody_free, frozenset(), "", None, OVERFLOWING) == Order(["spare1", "spare2"])
    assert offer_order(SALES, nobody_free, frozenset(), "", None, Spares(61, in_hours=False)) == Order([])
    assert offer_order(SALES, nobody_free, frozenset(), "", None,
                       Spares(61, True, {"spare1": 2, "spare2": 1})) == Order(["spare2"])


def test_spares_wait_while_a_member_is_free() -> None:
    assert offer_order(SALES, board("bo", "spare1"), frozenset(), "", None, OVERFLOWING) == Order(["bo"])
