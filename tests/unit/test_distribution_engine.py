"""The distribution engine driven event by event: the exact commands it answers with."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.core.agents import AgentBoard, AgentProfile, AutoPause, State
from ivr.core.callbacks import Callback, CallbackState, NewCallback
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import (
    AskTeam,
    BridgeCall,
    BriefAgent,
    ClaimAgent,
    CountSpareCall,
    DialCustomer,
    DistributionCommand,
    EndBridge,
    FinishAttempt,
    HangUpAgent,
    HangUpCustomer,
    HoldCallback,
    LetGoCallback,
    LineEvent,
    Log,
    NotifyAgent,
    RecallOwnAgent,
    ReleaseAgent,
    RingAgent,
    StartAttempt,
    TellCaller,
    Wake,
)
from ivr.core.distribution.engine import Distribution
from ivr.core.distribution.engine_state import TICK, TICK_SECONDS
from ivr.core.distribution.events import (
    AgentBriefed,
    AgentsChanged,
    AttemptStarted,
    Bridged,
    BridgeFailed,
    CallbackDropped,
    CallbackHeld,
    CallbackQueued,
    CallerJoined,
    CallerLeft,
    CallerReady,
    ClaimGranted,
    ClaimRefused,
    CustomerLegEnded,
    OfferAnswered,
    OfferEnded,
    OwnAgentRecalled,
    PhoneSeen,
    SpareCounts,
    TeamAnswered,
    Woke,
)
from ivr.core.distribution.transitions import IllegalEvent
from ivr.core.events import (
    AgentAnswered,
    AgentConnected,
    AgentHungUp,
    CampaignNote,
    OwnAgentBusy,
    QueuePosition,
)
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign

CALL = WaitingCall("600", "100", "1234", (("name", "Ana"),))
AGENTS = ("ana", "bo", "cy", "spare")
NO_AUTO_PAUSE = AutoPause(after=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Setup:
    """An engine with one campaign ``sales`` and agents ana, bo, cy and spare, logged in one
    second apart (so ana has been idle longest)."""

    def __init__(self, strict: bool = True, auto_pause: AutoPause = NO_AUTO_PAUSE, **campaign: object) -> None:
        self.clock = Clock()
        profiles = {"ana": AgentProfile("ana", cost=30.0, skills=(("es", 2),)),
                    "bo": AgentProfile("bo", cost=10.0, skills=(("es", 5),)),
                    "cy": AgentProfile("cy", cost=20.0, weight=1000),
                    "spare": AgentProfile("spare")}
        self.board = AgentBoard(profiles, self.clock, auto_pause)
        for name in AGENTS:
            self.clock.now += 1
            self.board.log_in(name)
        fields: dict[str, object] = {"agents": ("ana", "bo", "cy"), "strategy": "ordered", **campaign}
        self.campaign = Campaign.model_validate(fields)
        agents = {name: Agent(phone="register", email=f"{name}@x.es") for name in AGENTS}
        self.flow = Flow({Destination("campaign", "sales"): self.campaign}, {}, agents=agents)
        self.wall = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        self.engine = Distribution(self.board, lambda: self.flow, self.clock, lambda: self.wall,
                                   random.Random(7), strict=strict)

    def join(self, call_id: str = "c1", priority: int = 5) -> list[DistributionCommand]:
        return self.engine.handle(CallerJoined(call_id, "sales", priority, CALL))

    def claimed(self, offer: str) -> list[DistributionCommand]:
        return self.engine.handle(ClaimGranted(offer))

    def answer(self, offer: str, call_id: str = "c1") -> list[DistributionCommand]:
        """Answered, the caller ready, the bridge made."""
        out = self.engine.handle(OfferAnswered(offer))
        out += self.engine.handle(CallerReady(call_id))
        return out + self.engine.handle(Bridged(offer, f"{offer}-bridge"))


def claims(commands: list[DistributionCommand]) -> list[tuple[str, str]]:
    return [(c.offer_id, c.agent) for c in commands if isinstance(c, ClaimAgent)]


def rung(commands: list[DistributionCommand]) -> list[str]:
    return [c.agent for c in commands if isinstance(c, RingAgent)]


def told(commands: list[DistributionCommand]) -> list[object]:
    return [c.event for c in commands if isinstance(c, TellCaller)]


def without_logs(commands: list[DistributionCommand]) -> list[DistributionCommand]:
    return [c for c in commands if not isinstance(c, Log)]


def ring(offer: str, agent: str) -> RingAgent:
    return RingAgent(offer, agent, f"PJSIP/agent-{agent}", "c1", "sales <600>", 15, CALL.agent_variables("sales"),
                     "c1")


def test_a_caller_joins_is_claimed_rung_answered_and_bridged() -> None:
    s = Setup()

    assert without_logs(s.join()) == [LineEvent("sales", "c1", "entered", 0.0, position=1, first_position=1,
                                                caller="600"),
                                      Wake(TICK, TICK_SECONDS), ClaimAgent("c1-agent-1", "ana")]
    assert without_logs(s.claimed("c1-agent-1")) == [
        NotifyAgent("ana", (("type", "offer"), ("agent", "ana"), ("call", "c1"), ("campaign", "sales"),
                            ("caller", "600"), ("did", "100"), ("customer_id", "1234"),
                            ("variables", {"name": "Ana"}), ("caller_name", ""), ("own_customer", False))),
        ring("c1-agent-1", "ana")]
    assert s.board.status("ana").state is State.RINGING
    s.clock.now += 4.5
    assert s.engine.handle(OfferAnswered("c1-agent-1")) == [
        LineEvent("sales", "c1", "answered", 4.5, "ana", rang=4.5, first_position=1, leg="c1-agent-1"),
        TellCaller("c1", AgentAnswered("ana"))]
    assert s.engine.handle(CallerReady("c1")) == [BridgeCall("c1-agent-1-bridge", "c1", "c1-agent-1")]
    assert without_logs(s.engine.handle(Bridged("c1-agent-1", "c1-agent-1-bridge"))) == [
        TellCaller("c1", AgentConnected("ana"))]
    assert s.engine.is_talking("c1") and not s.engine.is_waiting("c1")


@pytest.mark.parametrize(("strategy", "skills", "first"), [
    ("ordered", {}, "ana"),
    ("longest-idle", {}, "ana"),
    ("lowest-cost", {}, "bo"),
    ("skills", {"es": 3}, "bo"),
    ("weighted-random", {}, "cy"),
])
def test_each_strategy_claims_its_first_agent(strategy: str, skills: dict[str, int], first: str) -> None:
    s = Setup(strategy=strategy, skills=skills)

    assert claims(s.join()) == [("c1-agent-1", first)]


def test_longest_idle_follows_who_waited_longest_since_a_call() -> None:
    s = Setup(strategy="longest-idle")
    s.clock.now += 10
    s.board.pause("ana", "coffee")
    s.board.ready("ana")

    assert claims(s.join()) == [("c1-agent-1", "bo")]


def test_ring_all_claims_everyone_first_rings_together_and_the_first_answer_wins() -> None:
    s = Setup(strategy="ring-all")

    assert claims(s.join()) == [("c1-agent-1", "ana"), ("c1-agent-2", "bo"), ("c1-agent-3", "cy")]
    assert rung(s.claimed("c1-agent-1")) == []
    assert rung(s.claimed("c1-agent-2")) == []
    assert rung(s.claimed("c1-agent-3")) == ["ana", "bo", "cy"]
    assert s.engine.handle(OfferAnswered("c1-agent-2")) == [
        LineEvent("sales", "c1", "answered", 0.0, "bo", first_position=1, leg="c1-agent-2"), HangUpAgent("c1-agent-1"), HangUpAgent("c1-agent-3"), TellCaller("c1", AgentAnswered("bo")),
        ReleaseAgent("ana", "c1-agent-1"), ReleaseAgent("cy", "c1-agent-3")]
    assert s.board.status("ana").state is State.READY and s.board.status("bo").state is State.ON_CALL
    # The others' legs end afterwards: nothing more is done for them.
    assert s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing")) == []
    assert s.engine.handle(OfferAnswered("c1-agent-3")) == [HangUpAgent("c1-agent-3")]


def test_ring_all_rings_those_claimed_when_another_node_holds_one() -> None:
    s = Setup(strategy="ring-all")
    s.join()
    s.claimed("c1-agent-1")
    s.engine.handle(ClaimRefused("c1-agent-2"))

    assert rung(s.claimed("c1-agent-3")) == ["ana", "cy"]


def test_a_refused_claim_moves_to_the_next_agent_until_the_next_tick() -> None:
    s = Setup()
    s.join()

    assert without_logs(s.engine.handle(ClaimRefused("c1-agent-1"))) == [ClaimAgent("c1-agent-2", "bo")]
    s.engine.handle(ClaimRefused("c1-agent-2"))
    s.engine.handle(ClaimRefused("c1-agent-3"))
    assert claims(s.engine.handle(Woke(TICK))) == [("c1-agent-4", "ana")]
    assert s.board.status("ana").offers == 0


def test_an_agent_who_does_not_answer_is_skipped_then_everyone_is_tried_again() -> None:
    s = Setup(agents=("ana", "bo"))
    s.join()
    s.claimed("c1-agent-1")

    s.clock.now += 15
    out = s.engine.handle(OfferEnded("c1-agent-1", "No Answer"))
    assert without_logs(out) == [LineEvent("sales", "c1", "unanswered", 15.0, "ana", "No Answer", rang=15.0),
                                 ReleaseAgent("ana", "c1-agent-1"), ClaimAgent("c1-agent-2", "bo")]
    s.claimed("c1-agent-2")
    assert claims(s.engine.handle(OfferEnded("c1-agent-2", "Busy"))) == []
    assert claims(s.engine.handle(Woke(TICK))) == [("c1-agent-3", "ana")]
    assert s.board.status("ana").no_answers == 1


def test_auto_pause_after_offers_not_answered_in_a_row() -> None:
    s = Setup(auto_pause=AutoPause(after=2, seconds=60), agents=("ana",))
    s.join()
    s.claimed("c1-agent-1")
    assert claims(s.engine.handle(OfferEnded("c1-agent-1", "No Answer"))) == []
    assert claims(s.engine.handle(Woke(TICK))) == [("c1-agent-2", "ana")]
    s.claimed("c1-agent-2")

    assert claims(s.engine.handle(OfferEnded("c1-agent-2", "No Answer"))) == []
    assert s.board.status("ana").state is State.PAUSED and s.board.status("ana").auto_paused
    s.clock.now += 61
    assert claims(s.engine.handle(Woke(TICK))) == [("c1-agent-3", "ana")]


def test_a_caller_leaving_while_an_agent_rings_hangs_the_leg_up_and_frees_the_agent() -> None:
    s = Setup()
    s.join()
    s.claimed("c1-agent-1")
    s.clock.now += 7

    assert without_logs(s.engine.handle(CallerLeft("c1"))) == [LineEvent("sales", "c1", "abandoned", 7.0,
                                                                         position=1, first_position=1),
                                                              HangUpAgent("c1-agent-1"),
                                                              ReleaseAgent("ana", "c1-agent-1")]
    assert s.board.status("ana").state is State.READY and s.board.status("ana").no_answers == 0
    assert s.engine.handle(OfferAnswered("c1-agent-1")) == [HangUpAgent("c1-agent-1")]
    assert s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing")) == []
    assert "c1-agent-1" not in s.engine.offers


def test_a_caller_leaving_while_the_claim_is_asked_releases_it_when_granted() -> None:
    s = Setup()
    s.join()
    s.engine.handle(CallerLeft("c1"))

    assert s.claimed("c1-agent-1") == [ReleaseAgent("ana", "c1-agent-1")]
    assert not s.engine.offers and s.board.status("ana").state is State.READY


def test_an_agent_answering_during_an_announcement_waits_for_the_caller_to_be_ready() -> None:
    s = Setup()
    s.join()
    s.claimed("c1-agent-1")

    assert told(s.engine.handle(OfferAnswered("c1-agent-1"))) == [AgentAnswered("ana")]
    assert s.engine.waiting_lines()["sales"] == []
    assert s.engine.handle(CallerReady("c1")) == [BridgeCall("c1-agent-1-bridge", "c1", "c1-agent-1")]


def test_an_agent_lost_before_the_bridge_puts_the_caller_back_in_its_place() -> None:
    s = Setup(agents=("ana",))
    s.join("c1")
    s.claimed("c1-agent-1")
    s.join("c2")
    s.engine.handle(OfferAnswered("c1-agent-1"))

    out = s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing"))
    assert without_logs(out) == [EndBridge("c1-agent-1-bridge"), TellCaller("c1", AgentHungUp("ana")),
                                 ReleaseAgent("ana", "c1-agent-1"), ClaimAgent("c1-agent-2", "ana")]
    assert [w.call_id for w in s.engine.waiting_lines()["sales"]] == ["c1", "c2"]
    assert s.engine.handle(CallerReady("c1")) == []


def test_a_bridge_that_fails_hangs_the_agent_up_and_the_caller_waits_again() -> None:
    s = Setup(agents=("ana", "bo"), wrap_up=5)
    s.join()
    s.claimed("c1-agent-1")
    s.engine.handle(OfferAnswered("c1-agent-1"))
    s.engine.handle(CallerReady("c1"))

    out = s.engine.handle(BridgeFailed("c1-agent-1", "c1-agent-1-bridge", "Channel not found"))
    assert without_logs(out) == [Wake("wrap-up:c1-agent-1", 5), HangUpAgent("c1-agent-1"), EndBridge("c1-agent-1-bridge"),
                                 TellCaller("c1", AgentHungUp("ana")), ClaimAgent("c1-agent-2", "bo")]
    assert s.engine.is_waiting("c1")


def test_the_agent_hanging_up_tells_the_flow_before_the_bridge_ends_then_wrap_up() -> None:
    s = Setup(wrap_up=30)
    s.join()
    s.claimed("c1-agent-1")
    s.answer("c1-agent-1")

    assert without_logs(s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing"))) == [
        TellCaller("c1", AgentHungUp("ana")),
        LineEvent("sales", "c1", "ended", 0.0, "ana", first_position=1, by="agent"),
        Wake("wrap-up:c1-agent-1", 30), EndBridge("c1-agent-1-bridge")]
    assert s.board.status("ana").state is State.WRAP_UP
    assert s.engine.handle(Woke("wrap-up:c1-agent-1")) == [ReleaseAgent("ana", "c1-agent-1")]
    assert s.board.status("ana").state is State.READY


def test_an_agent_logged_out_in_wrap_up_between_two_events_is_released_at_the_next() -> None:
    s = Setup(wrap_up=30)
    s.join()
    s.claimed("c1-agent-1")
    s.answer("c1-agent-1")
    s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing"))

    s.board.log_out("ana")  # through the API, not an event of the engine

    assert s.engine.handle(Woke("another-key")) == [ReleaseAgent("ana", "c1-agent-1")]
    assert s.engine.handle(Woke("another-key")) == []


def test_the_caller_hanging_up_during_the_conversation_hangs_the_agent_up() -> None:
    s = Setup()
    s.join()
    s.claimed("c1-agent-1")
    s.clock.now += 3
    s.answer("c1-agent-1")
    s.clock.now += 42

    assert without_logs(s.engine.handle(CallerLeft("c1"))) == [
        LineEvent("sales", "c1", "ended", 3.0, "ana", first_position=1, talked=42.0, by="caller"),
        HangUpAgent("c1-agent-1"), EndBridge("c1-agent-1-bridge"), ReleaseAgent("ana", "c1-agent-1")]


def test_the_crm_named_own_agent_is_offered_first_whatever_the_strategy() -> None:
    s = Setup()

    call = WaitingCall("600", "100", "1234", (("agent", "cy@x.es"),))
    assert claims(s.engine.handle(CallerJoined("c1", "sales", 5, call))) == [("c1-agent-1", "cy")]


def test_the_line_is_told_who_entered_was_answered_abandoned_or_taken_out() -> None:
    """What the wallboard and the reports count: a caller the flow takes out (its maximum wait)
    is not an abandon, and one that hangs up after an agent answered is neither."""
    s = Setup()
    for agent in ("ana", "bo", "cy"):
        s.board.pause(agent, "lunch")
    s.join("c1")
    s.join("c2")
    s.clock.now += 30

    left = s.engine.handle(CallerLeft("c1", "no agent within 30 s", hung_up=False, how="timeout"))
    assert [c for c in left if isinstance(c, LineEvent)] == [
        LineEvent("sales", "c1", "left", 30.0, why="no agent within 30 s", position=1, first_position=1,
                  how="timeout")]
    s.board.ready("ana")
    s.claimed(claims(s.engine.handle(AgentsChanged()))[0][0])
    s.answer("c2-agent-1", "c2")
    assert [c.kind for c in s.engine.handle(CallerLeft("c2")) if isinstance(c, LineEvent)] == ["ended"]


def test_the_line_is_told_the_exit_key_and_who_ended_the_talk_and_a_caller_served_is_no_abandon() -> None:
    """What the queue_log needs beyond the wallboard: EXITWITHKEY's key and positions, and
    COMPLETEAGENT's hold and talk times; the caller hanging up after the agent is not an abandon."""
    s = Setup()
    for agent in ("ana", "bo", "cy"):
        s.board.pause(agent, "lunch")
    s.join("c1")
    s.join("c2")
    s.clock.now += 9

    left = s.engine.handle(CallerLeft("c2", "the caller pressed 0 to leave", hung_up=False, how="key", key="0"))
    assert [c for c in left if isinstance(c, LineEvent)] == [
        LineEvent("sales", "c2", "left", 9.0, why="the caller pressed 0 to leave", position=2, first_position=2,
                  how="key", key="0")]
    s.board.ready("ana")
    s.claimed(claims(s.engine.handle(AgentsChanged()))[0][0])
    s.answer("c1-agent-1", "c1")
    s.clock.now += 20

    ended = s.engine.handle(OfferEnded("c1-agent-1", "Normal Clearing"))
    assert [c for c in ended if isinstance(c, LineEvent)] == [
        LineEvent("sales", "c1", "ended", 9.0, "ana", first_position=1, talked=20.0, by="agent")]
    assert [c for c in s.engine.handle(CallerLeft("c1")) if isinstance(c, LineEvent)] == []


def test_a_busy_own_agent_is_told_once_and_another_agent_is_offered() -> None:
    """Whether the caller hears a prompt then is the flow's (tests/unit/test_campaign_step.py)."""
    s = Setup(remember_agent=True)
    assert s.join() == [Log("call c1: waiting in campaign sales (priority 5, position 1)"),
                        LineEvent("sales", "c1", "entered", 0.0, position=1, first_position=1, caller="600"),
                        RecallOwnAgent("c1", "1234"),
                        Wake(TICK, TICK_SECONDS)]
    s.board.pause("cy", "lunch")

    out = s.engine.handle(OwnAgentRecalled("c1", "cy"))
    assert told(out) == [CampaignNote("own agent cy (stored)"), OwnAgentBusy("cy")]
    assert claims(out) == [("c1-agent-1", "ana")]
    s.claimed("c1-agent-1")
    out = s.engine.handle(OfferEnded("c1-agent-1", "No Answer"))
    assert told(out) == [] and claims(out) == [("c1-agent-2", "bo")]


def test_the_own_agent_stored_and_free_is_offered_first() -> None:
    s = Setup(remember_agent=True)
    s.join()

    assert claims(s.engine.handle(OwnAgentRecalled("c1", "cy"))) == [("c1-agent-1", "cy")]
    pop = [dict(c.data) for c in s.claimed("c1-agent-1") if isinstance(c, NotifyAgent)]
    assert [(p["agent"], p["own_customer"]) for p in pop] == [("cy", True)]


def test_the_dynamic_team_orders_the_offers_and_its_failure_falls_back_to_the_strategy() -> None:
    s = Setup(team_url="http://127.0.0.1:9/team")
    out = s.join("c1")
    assert [c for c in out if isinstance(c, AskTeam)] == [
        AskTeam("c1", "http://127.0.0.1:9/team", 2.0, (("call", "c1"), ("campaign", "sales"), ("caller", "600"),
                                                       ("did", "100"), ("customer_id", "1234"),
                                                       ("variables", {"name": "Ana"})))]
    assert claims(out) == []
    out = s.engine.handle(TeamAnswered("c1", ("cy", "bo"), ""))
    assert told(out) == [CampaignNote("dynamic team: cy, bo")] and claims(out) == [("c1-agent-1", "cy")]

    s.join("c2")
    out = s.engine.handle(TeamAnswered("c2", None, "HTTP 500"))
    assert told(out) == [CampaignNote("dynamic team unavailable (HTTP 500); the campaign's strategy is used")]
    assert claims(out) == [("c2-agent-2", "ana")]


def test_a_dynamic_team_rings_its_agents_one_at_a_time_even_with_ring_all() -> None:
    s = Setup(team_url="http://127.0.0.1:9/team", strategy="ring-all")
    s.join()

    assert claims(s.engine.handle(TeamAnswered("c1", ("bo", "ana"), ""))) == [("c1-agent-1", "bo")]


def test_spares_are_offered_after_the_overflow_wait_and_counted_per_day() -> None:
    s = Setup(agents=("ana",), overflow_after=30, overflow_agents=("spare",), overflow_daily_limit=1)
    s.board.pause("ana", "lunch")
    assert claims(s.join("c1")) == []
    s.clock.now += 31
    assert claims(s.engine.handle(Woke(TICK))) == [("c1-agent-1", "spare")]
    s.claimed("c1-agent-1")
    out = s.engine.handle(OfferAnswered("c1-agent-1"))
    assert told(out) == [CampaignNote("overflow: answered by spare spare"), AgentAnswered("spare")]
    s.engine.handle(CallerLeft("c1"))

    s.join("c2")
    s.clock.now += 31
    assert claims(s.engine.handle(Woke(TICK))) == []


def spare_setup(limit: int) -> Setup:
    """ana paused, so a caller who waited 30 s is offered to spare, counted in Los Angeles
    (6 December there at 02:00 UTC on the 7th)."""
    s = Setup(agents=("ana",), overflow_after=30, overflow_agents=("spare",), overflow_daily_limit=limit,
              overflow_timezone="America/Los_Angeles")
    s.flow = replace(s.flow, zones={"America/Los_Angeles": ZoneInfo("America/Los_Angeles")})
    s.wall = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    s.board.pause("ana", "lunch")
    return s


def offered_after_the_wait(s: Setup, call_id: str) -> list[tuple[str, str]]:
    s.join(call_id)
    s.clock.now += 31
    return claims(s.engine.handle(Woke(TICK)))


LA_DAY = date(2026, 12, 6)


def test_a_spares_answer_is_counted_in_the_store_on_the_campaigns_day() -> None:
    s = spare_setup(limit=2)
    assert s.engine.spare_days() == {LA_DAY}

    assert offered_after_the_wait(s, "c1") == [("c1-agent-1", "spare")]
    s.claimed("c1-agent-1")
    assert CountSpareCall("spare", LA_DAY) in s.engine.handle(OfferAnswered("c1-agent-1"))


def test_stored_counts_hold_a_spare_at_the_limit_and_never_undo_a_count_still_on_its_way() -> None:
    s = spare_setup(limit=2)
    assert s.engine.handle(SpareCounts(LA_DAY, (("spare", 1), ("boss", 7)))) == []  # another node's answer

    assert offered_after_the_wait(s, "c1") == [("c1-agent-1", "spare")]
    s.claimed("c1-agent-1")
    s.engine.handle(OfferAnswered("c1-agent-1"))
    s.engine.handle(CallerLeft("c1"))
    s.engine.handle(SpareCounts(LA_DAY, (("spare", 1),)))  # read before this node's call was stored

    assert offered_after_the_wait(s, "c2") == []


def test_stored_counts_of_another_day_leave_today_alone() -> None:
    s = spare_setup(limit=1)
    s.engine.handle(SpareCounts(LA_DAY - timedelta(days=1), (("spare", 5),)))

    assert offered_after_the_wait(s, "c1") == [("c1-agent-1", "spare")]
    assert Setup().engine.spare_days() == set()


def test_a_phone_going_offline_is_not_offered_and_coming_back_is() -> None:
    s = Setup(agents=("ana",))
    s.engine.handle(PhoneSeen("ana", "offline", False))

    assert claims(s.join()) == []
    assert claims(s.engine.handle(PhoneSeen("ana", "online", False))) == [("c1-agent-1", "ana")]


def test_the_line_orders_by_priority_then_arrival_and_estimates_the_wait() -> None:
    s = Setup(agents=("ana",))
    s.board.pause("ana", "meeting")
    s.join("late", priority=5)
    s.join("urgent", priority=1)

    assert [w.call_id for w in s.engine.waiting_lines()["sales"]] == ["urgent", "late"]
    s.board.ready("ana")
    assert claims(s.engine.handle(Woke(TICK))) == [("urgent-agent-1", "ana")]
    s.clock.now += 120
    s.claimed("urgent-agent-1")
    s.engine.handle(OfferAnswered("urgent-agent-1"))
    assert s.engine.position("late") == QueuePosition(1, 2)


def test_an_illegal_event_raises_in_tests_and_is_logged_in_production() -> None:
    strict = Setup()
    strict.join()
    with pytest.raises(IllegalEvent, match="offer c1-agent-1 to ana: 'answered' cannot happen when proposed"):
        strict.engine.handle(OfferAnswered("c1-agent-1"))
    strict.claimed("c1-agent-1")
    with pytest.raises(IllegalEvent, match="'granted' cannot happen when ringing"):
        strict.claimed("c1-agent-1")
    with pytest.raises(IllegalEvent, match="no offer zz"):
        strict.engine.handle(ClaimGranted("zz"))

    lenient = Setup(strict=False)
    lenient.join()
    assert lenient.engine.handle(OfferAnswered("c1-agent-1")) == [
        Log("distribution: offer c1-agent-1 to ana: 'answered' cannot happen when proposed; ignored",
            logging.ERROR)]


def callback(callback_id: str = "k1", arrived: datetime = datetime(2026, 12, 7, 9, 58, tzinfo=UTC),
             priority: int = 5) -> CallbackQueued:
    request = NewCallback("sales", "+34600111222", "+34911000000", "1234", (("name", "Ana"),), priority, arrived,
                          "ivr-cb-k1")
    queued = Callback(callback_id, request, CallbackState.PENDING, arrived, arrived, arrived + timedelta(days=1),
                      0, 3, 300.0)
    return CallbackQueued(queued, "PJSIP/+34600111222@pstn", ("recording:ivr-cb-k1",), 30)


def ringing_for_callback(s: Setup) -> None:
    """Callback k1 queued, held by this node and ringing its first agent."""
    s.engine.handle(callback())
    s.engine.handle(CallbackHeld("k1", True))
    s.claimed("cb-k1-agent-1")


def briefed(s: Setup) -> None:
    """Callback k1's agent answered and heard the briefing: the attempt is to start."""
    ringing_for_callback(s)
    s.engine.handle(OfferAnswered("cb-k1-agent-1"))
    s.engine.handle(AgentBriefed("cb-k1-agent-1"))


def test_a_callback_is_held_offered_briefed_dialled_and_bridged_when_the_customer_accepts() -> None:
    s = Setup()

    assert without_logs(s.engine.handle(callback())) == [Wake(TICK, TICK_SECONDS), HoldCallback("k1")]
    assert claims(s.engine.handle(CallbackHeld("k1", True))) == [("cb-k1-agent-1", "ana")]
    ringing = [c for c in s.claimed("cb-k1-agent-1") if isinstance(c, RingAgent)]
    assert ringing == [RingAgent("cb-k1-agent-1", "ana", "PJSIP/agent-ana", "cb-k1", "callback sales <+34600111222>",
                                 15, (*WaitingCall("+34600111222", "", "1234", (("name", "Ana"),))
                                      .agent_variables("sales"), ("IVR_CALLBACK", "k1")), "")]
    assert s.engine.handle(OfferAnswered("cb-k1-agent-1")) == [BriefAgent("cb-k1-agent-1", ("recording:ivr-cb-k1",))]
    assert s.engine.handle(AgentBriefed("cb-k1-agent-1")) == [StartAttempt("k1")]
    assert without_logs(s.engine.handle(AttemptStarted("k1", 1))) == [
        DialCustomer("cb-k1-try-1", "k1", 1, "PJSIP/+34600111222@pstn", "+34911000000", 30, "cb-k1-agent-1",
                     "+34600111222")]
    assert s.engine.handle(CallerReady("cb-k1-try-1")) == [BridgeCall("cb-k1-agent-1-bridge", "cb-k1-try-1", "cb-k1-agent-1")]
    assert without_logs(s.engine.handle(Bridged("cb-k1-agent-1", "cb-k1-agent-1-bridge"))) == [
        FinishAttempt("k1", 1, True, "accepted; talked with agent ana"),
        LineEvent("sales", "k1", "callback", 0.0, "ana", "accepted; talked with agent ana", attempt=1, connected=True)]
    assert without_logs(s.engine.handle(CustomerLegEnded("cb-k1-try-1", "Normal Clearing"))) == [
        HangUpAgent("cb-k1-agent-1"), EndBridge("cb-k1-agent-1-bridge"), ReleaseAgent("ana", "cb-k1-agent-1")]
    assert not s.engine.items and not s.engine.legs


def test_a_callback_keeps_the_original_calls_place_among_live_callers() -> None:
    s = Setup(agents=("ana",))
    s.board.pause("ana", "meeting")
    s.join("earlier")
    s.wall += timedelta(seconds=30)
    s.clock.now += 30
    s.engine.handle(callback(arrived=s.wall - timedelta(seconds=20)))
    s.join("later")

    assert [w.call_id for w in s.engine.waiting_lines()["sales"]] == ["earlier", "cb-k1", "later"]
    s.board.ready("ana")
    assert claims(s.engine.handle(Woke(TICK))) == [("earlier-agent-1", "ana")]


def test_a_callback_takes_no_agent_while_an_earlier_caller_waits_and_is_held_only_when_one_is_free() -> None:
    s = Setup(agents=("ana",))
    s.join("c1")
    assert HoldCallback("k1") not in s.engine.handle(callback(arrived=s.wall + timedelta(seconds=5)))

    s.claimed("c1-agent-1")
    s.answer("c1-agent-1")
    assert s.engine.handle(CallerLeft("c1"))[-1] == HoldCallback("k1")


def test_an_agent_refusing_a_callback_costs_no_attempt_and_the_next_agent_gets_it() -> None:
    s = Setup(agents=("ana", "bo"))
    ringing_for_callback(s)

    out = s.engine.handle(OfferEnded("cb-k1-agent-1", "Busy"))
    assert claims(out) == [("cb-k1-agent-2", "bo")]
    assert not [c for c in out if isinstance(c, (StartAttempt, FinishAttempt, HoldCallback))]


def test_a_customer_who_does_not_accept_fails_the_attempt_and_frees_the_agent() -> None:
    s = Setup(agents=("ana",))
    briefed(s)
    s.engine.handle(AttemptStarted("k1", 2))

    assert without_logs(s.engine.handle(CustomerLegEnded("cb-k1-try-2", "No Answer"))) == [
        HangUpAgent("cb-k1-agent-1"), EndBridge("cb-k1-agent-1-bridge"), FinishAttempt("k1", 2, False, "No Answer"),
        LineEvent("sales", "k1", "callback", 0.0, "ana", "No Answer", attempt=2), ReleaseAgent("ana", "cb-k1-agent-1")]
    assert not s.engine.items and s.board.status("ana").state is State.READY


def test_the_agent_hanging_up_during_the_dial_fails_the_attempt_and_hangs_the_customer_up() -> None:
    s = Setup(agents=("ana",))
    briefed(s)
    s.engine.handle(AttemptStarted("k1", 1))

    out = without_logs(s.engine.handle(OfferEnded("cb-k1-agent-1", "Normal Clearing")))
    assert out[1:] == [HangUpCustomer("cb-k1-try-1"),
                       FinishAttempt("k1", 1, False, "agent ana left before the customer was connected"),
                       LineEvent("sales", "k1", "callback", 0.0, "ana", "agent ana left before the customer was connected",
                                 attempt=1),
                       ReleaseAgent("ana", "cb-k1-agent-1")]


def test_a_callback_held_by_another_node_or_cancelled_leaves_this_nodes_line() -> None:
    s = Setup(agents=("ana",))
    s.engine.handle(callback("k1"))
    s.engine.handle(CallbackHeld("k1", False))
    s.engine.handle(callback("k2"))
    s.engine.handle(CallbackDropped("k2"))

    assert s.engine.waiting_lines()["sales"] == [] and not s.engine.items


def test_an_attempt_the_store_refuses_lets_the_agent_go_without_dialling() -> None:
    s = Setup(agents=("ana",))
    briefed(s)

    out = s.engine.handle(AttemptStarted("k1", None))
    assert not [c for c in out if isinstance(c, DialCustomer)]
    assert HangUpAgent("cb-k1-agent-1") in out and not s.engine.items


def test_a_later_caller_does_not_take_the_agent_while_the_callbacks_hold_is_asked() -> None:
    s = Setup(agents=("ana",))
    s.board.pause("ana", "meeting")
    s.engine.handle(callback(arrived=s.wall - timedelta(seconds=60)))
    s.join("later")
    s.board.ready("ana")

    out = s.engine.handle(Woke(TICK))
    assert HoldCallback("k1") in out and claims(out) == []
    assert claims(s.engine.handle(CallbackHeld("k1", True))) == [("cb-k1-agent-1", "ana")]
    assert s.engine.kept_for == {}


def test_a_held_callback_is_let_go_when_no_agent_here_is_free_for_it() -> None:
    s = Setup(agents=("ana",))
    ringing_for_callback(s)
    s.board.pause("ana", "lunch")

    assert LetGoCallback("k1") in s.engine.handle(OfferEnded("cb-k1-agent-1", "Busy"))
    s.board.ready("ana")
    assert HoldCallback("k1") in s.engine.handle(Woke(TICK))
