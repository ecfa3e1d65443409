"""Agents' state, the distribution strategies and the waiting line: pure logic."""

from __future__ import annotations

import random

import pytest

from ivr.core.agents import AgentBoard, AgentProfile, AutoPause, State, TransitionError
from ivr.core.strategies import SkillNeed, candidates
from ivr.core.waiting import WaitingLine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(clock: Clock, **overrides: AgentProfile) -> AgentBoard:
    agents = {
        "ana": AgentProfile("ana", skills=(("billing", 3), ("es", 5)), cost=30.0, weight=1),
        "bo": AgentProfile("bo", skills=(("billing", 5),), cost=10.0, weight=1),
        "cy": AgentProfile("cy", skills=(("billing", 1), ("es", 2)), cost=20.0, weight=1),
        **overrides,
    }
    created = AgentBoard(agents, clock, AutoPause(after=2, seconds=60))
    for agent in agents:
        clock.now += 1
        created.log_in(agent)
    return created


def test_agents_start_logged_out_and_are_offered_calls_only_when_ready() -> None:
    clock = Clock()
    agents = AgentBoard({"ana": AgentProfile("ana")}, clock)

    assert agents.status("ana").state is State.LOGGED_OUT and not agents.available("ana")
    agents.log_in("ana")
    assert agents.available("ana")
    agents.pause("ana", "lunch")
    assert not agents.available("ana") and agents.status("ana").reason == "lunch"


def test_the_device_overrides_the_state() -> None:
    clock = Clock()
    agents = board(clock)

    agents.device("ana", reachable=False)
    agents.device("bo", busy=True)

    assert agents.available_among(["ana", "bo", "cy"]) == ["cy"]


def test_a_call_moves_an_agent_through_ringing_on_call_and_wrap_up() -> None:
    clock = Clock()
    agents = board(clock)

    agents.offered("ana")
    clock.now += 4
    agents.answered("ana")
    agents.call_ended("ana", wrap_up=10)

    status = agents.status("ana")
    assert status.state is State.WRAP_UP
    assert (status.offers, status.answers, status.mean_answer_seconds) == (1, 1, 4.0)
    with pytest.raises(TransitionError, match="agent ana: cannot go from wrap-up to ringing"):
        agents.offered("ana")


def test_no_answers_in_a_row_pause_the_agent_for_a_while() -> None:
    clock = Clock()
    agents = board(clock)

    agents.offered("ana")
    agents.not_answered("ana")
    assert agents.available("ana")
    agents.offered("ana")
    agents.not_answered("ana")

    status = agents.status("ana")
    assert status.state is State.PAUSED and status.reason == "auto: 2 offer(s) in a row not answered"
    assert status.no_answers == 2
    clock.now += 59
    assert not agents.available("ana")
    clock.now += 1
    assert agents.available("ana") and status.no_answers_in_a_row == 0


def test_an_answer_resets_the_run_of_no_answers() -> None:
    clock = Clock()
    agents = board(clock)

    agents.offered("ana")
    agents.not_answered("ana")
    agents.offered("ana")
    agents.answered("ana")

    assert agents.status("ana").no_answers_in_a_row == 0


def test_longest_idle_offers_first_whoever_waited_longest() -> None:
    clock = Clock()
    agents = board(clock)
    agents.offered("ana")
    agents.answered("ana")
    clock.now += 30
    agents.call_ended("ana", wrap_up=0)

    assert candidates("longest-idle", ["ana", "bo", "cy"], agents) == ["bo", "cy", "ana"]


def test_a_missed_offer_does_not_make_the_agent_the_longest_idle() -> None:
    clock = Clock()
    agents = board(clock)
    agents.offered("ana")
    agents.not_answered("ana")

    assert candidates("longest-idle", ["ana", "bo", "cy"], agents)[0] == "ana"


def test_ordered_keeps_the_list_order_among_the_available() -> None:
    clock = Clock()
    agents = board(clock)
    agents.pause("bo", "break")

    assert candidates("ordered", ["cy", "bo", "ana"], agents) == ["cy", "ana"]


def test_skills_keeps_the_qualified_best_level_first() -> None:
    clock = Clock()
    agents = board(clock)

    assert candidates("skills", ["ana", "bo", "cy"], agents, needs=[SkillNeed("billing", 2)]) == ["bo", "ana"]
    assert candidates("skills", ["ana", "bo", "cy"], agents, needs=[SkillNeed("es")]) == ["ana", "cy"]


def test_lowest_cost_first() -> None:
    clock = Clock()
    agents = board(clock)

    assert candidates("lowest-cost", ["ana", "bo", "cy"], agents) == ["bo", "cy", "ana"]


def test_weighted_random_follows_the_weights() -> None:
    clock = Clock()
    agents = board(clock, bo=AgentProfile("bo", weight=9))
    rng = random.Random(7)

    firsts = [candidates("weighted-random", ["ana", "bo", "cy"], agents, rng=rng)[0] for _ in range(1000)]

    assert 0.75 < firsts.count("bo") / 1000 < 0.88  # 9 / 11 = 0.82
    assert sorted(candidates("weighted-random", ["ana", "bo", "cy"], agents, rng=rng)) == ["ana", "bo", "cy"]


def test_agents_who_missed_this_call_are_skipped() -> None:
    clock = Clock()
    agents = board(clock)

    assert candidates("ordered", ["ana", "bo", "cy"], agents, skip=frozenset({"ana"})) == ["bo", "cy"]


def test_unknown_members_are_never_offered() -> None:
    clock = Clock()
    agents = board(clock)

    assert candidates("ordered", ["zed", "ana"], agents) == ["ana"]


def test_the_waiting_line_orders_by_priority_then_arrival() -> None:
    line = WaitingLine()
    line.join("a", priority=5, now=1)
    line.join("b", priority=5, now=2)
    line.join("vip", priority=1, now=3)

    assert [w.call_id for w in line.in_order()] == ["vip", "a", "b"]
    assert line.position("b") == 3
    line.leave("vip")
    assert line.position("b") == 2 and "vip" not in line and len(line) == 2


def test_an_agent_who_pauses_while_ringing_and_answers_is_on_the_call() -> None:
    clock = Clock()
    agents = board(clock)
    agents.offered("ana")
    agents.pause("ana", "coffee")

    agents.answered("ana")

    assert agents.status("ana").state is State.ON_CALL


def test_ready_by_hand_after_an_auto_pause_forgets_the_missed_offers() -> None:
    clock = Clock()
    agents = board(clock)
    for _ in range(2):
        agents.offered("ana")
        agents.not_answered("ana")

    agents.ready("ana")
    agents.offered("ana")
    agents.not_answered("ana")

    assert agents.status("ana").state is State.READY


def test_a_pause_reason_that_looks_automatic_does_not_end_by_itself() -> None:
    clock = Clock()
    agents = board(clock)
    agents.pause("ana", "auto: my own words")

    clock.now += 3600

    assert not agents.available("ana")


def test_listeners_hear_each_change_of_state() -> None:
    clock = Clock()
    agents = board(clock)
    heard: list[tuple[str, State]] = []
    agents.listeners.append(lambda agent: heard.append((agent, agents.status(agent).state)))

    agents.offered("ana")
    agents.answered("ana")
    agents.call_ended("ana", wrap_up=5)
    agents.ready("ana")
    agents.ready("ana")

    assert heard == [("ana", State.RINGING), ("ana", State.ON_CALL), ("ana", State.WRAP_UP),
                     ("ana", State.READY)]


def test_presence_is_what_the_agent_chose_not_what_calls_did() -> None:
    agents = board(Clock())
    agents.pause("bo", "lunch")
    agents.offered("cy")
    agents.not_answered("cy")
    agents.not_answered("cy")
    agents.offered("ana")
    agents.answered("ana")

    assert agents.presence("ana") == (State.READY, "")
    assert agents.presence("bo") == (State.PAUSED, "lunch")
    assert agents.presence("cy") == (State.READY, "")


def test_another_nodes_presence_applies_but_its_calls_do_not() -> None:
    agents = board(Clock())
    agents.log_out("cy")
    agents.offered("ana")
    agents.answered("ana")

    agents.follow("bo", State.PAUSED, "lunch")
    agents.follow("cy", State.READY, "")
    agents.follow("ana", State.LOGGED_OUT, "")
    assert [agents.status(a).state for a in ("ana", "bo", "cy")] == [State.ON_CALL, State.PAUSED, State.READY]
    assert agents.status("bo").reason == "lunch"

    agents.follow("bo", State.READY, "")
    agents.follow("cy", State.PAUSED, "meeting")
    assert agents.presence("bo") == (State.READY, "") and agents.presence("cy") == (State.PAUSED, "meeting")


def test_an_automatic_pause_is_not_lifted_by_another_nodes_ready() -> None:
    agents = board(Clock())
    agents.offered("ana")
    agents.not_answered("ana")
    agents.offered("ana")
    agents.not_answered("ana")

    agents.follow("ana", State.READY, "")

    assert agents.status("ana").state is State.PAUSED


def test_an_update_adds_agents_changes_profiles_and_keeps_the_removed_one_on_a_call() -> None:
    agents = board(Clock())
    agents.offered("ana")
    agents.answered("ana")

    added = agents.update({"bo": AgentProfile("bo", cost=5.0), "di": AgentProfile("di")})

    assert added == ["di"]
    assert sorted(agents.agents) == ["ana", "bo", "di"]
    assert agents.agents["bo"].cost == 5.0 and agents.status("di").state is State.LOGGED_OUT
    agents.call_ended("ana", 0)
    agents.update({"bo": AgentProfile("bo", cost=5.0), "di": AgentProfile("di")})
    assert sorted(agents.agents) == ["bo", "di"]
