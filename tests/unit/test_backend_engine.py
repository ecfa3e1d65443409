"""Backend-run campaigns in the distribution engine: the call handed to the backend, its connect
commands rung and bridged, every step told to the backend's webhook, a target that does not
answer, and a backend that cannot be reached."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from ivr.core.agents import AgentBoard, AgentProfile, AutoPause, State
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import (
    BridgeCall,
    ClaimAgent,
    DistributionCommand,
    HandToBackend,
    RingAgent,
    TellBackend,
    TellCaller,
)
from ivr.core.distribution.engine import Distribution
from ivr.core.distribution.events import (
    BackendAccepted,
    Bridged,
    CallerJoined,
    CallerLeft,
    CallerReady,
    ConnectTarget,
    OfferAnswered,
    OfferEnded,
    Target,
)
from ivr.core.events import AgentAnswered, CampaignNote
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign

CALL = WaitingCall("+34915550000", "600", "1234", (("name", "María"),), "MARIA")
EVENTS = "http://127.0.0.1:9/events"


class Setup:
    def __init__(self) -> None:
        self.now = 1000.0
        self.board = AgentBoard({"ana": AgentProfile("ana"), "bo": AgentProfile("bo")}, lambda: self.now,
                                AutoPause(after=0))
        self.board.log_in("ana")
        self.board.log_in("bo")
        node = Campaign.model_validate({"agents": ("ana", "bo"), "mode": "backend", "strategy": "ordered",
                                        "backend_url": "http://127.0.0.1:9/calls", "events_url": EVENTS,
                                        "backend_secret_env": "SECRET"})
        agents = {"ana": Agent(phone="register"), "bo": Agent(phone="register")}
        self.flow = Flow({Destination("campaign", "front"): node}, {}, agents=agents)
        self.engine = Distribution(self.board, lambda: self.flow, lambda: self.now,
                                   lambda: datetime(2026, 12, 7, tzinfo=UTC), random.Random(1), strict=True)

    def handle(self, event: object) -> list[DistributionCommand]:
        return self.engine.handle(event)  # type: ignore[arg-type]

    def join(self) -> list[DistributionCommand]:
        return self.handle(CallerJoined("c1", "front", 5, CALL))

    def connect(self, target: Target, command: str = "k1") -> list[DistributionCommand]:
        return self.handle(ConnectTarget("c1", command, target))


def told(commands: list[DistributionCommand]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.type, dict(c.data)) for c in commands if isinstance(c, TellBackend)]


def test_the_call_is_handed_to_the_backend_and_no_agent_is_offered_it() -> None:
    setup = Setup()
    out = setup.join()
    [hand] = [c for c in out if isinstance(c, HandToBackend)]
    assert hand.url == "http://127.0.0.1:9/calls" and dict(hand.data)["customer_id"] == "1234"
    assert not [c for c in out if isinstance(c, (ClaimAgent, RingAgent))]
    assert told(out) == [("joined", {"caller": "+34915550000", "caller_name": "MARIA", "did": "600",
                                     "customer_id": "1234", "variables": {"name": "María"}})]
    assert setup.handle(BackendAccepted("c1")) == [
        TellCaller("c1", CampaignNote("handed to the backend"))]
    assert setup.engine.backend_state("c1") == "waiting"


def test_a_connect_rings_the_target_and_every_step_is_told_in_order() -> None:
    setup = Setup()
    setup.join()
    setup.handle(BackendAccepted("c1"))
    out = setup.connect(Target("agent", "bo", ""))
    [ring] = [c for c in out if isinstance(c, RingAgent)]
    assert (ring.agent, ring.endpoint, ring.originator) == ("bo", "PJSIP/agent-bo", "c1")
    assert setup.board.status("bo").state is State.RINGING
    assert setup.engine.backend_state("c1") == "ringing"
    setup.now += 2
    answered = setup.handle(OfferAnswered(ring.offer_id))
    assert TellCaller("c1", AgentAnswered("bo")) in answered
    ready = setup.handle(CallerReady("c1"))
    assert [c for c in ready if isinstance(c, BridgeCall)]
    bridged = setup.handle(Bridged(ring.offer_id, f"{ring.offer_id}-bridge"))
    setup.now += 30
    ended = setup.handle(OfferEnded(ring.offer_id, "Normal Clearing"))
    assert told(out + answered + bridged + ended) == [
        ("ringing", {"command": "k1", "target": "agent", "to": "bo"}),
        ("answered", {"to": "bo", "waited": 2.0}),
        ("bridged", {"to": "bo"}),
        ("hung_up", {"by": "target", "to": "bo", "talked": 30.0})]


def test_a_sip_target_is_dialled_as_given_and_the_board_is_left_alone() -> None:
    setup = Setup()
    setup.join()
    out = setup.connect(Target("sip", "sip:op@pbx.example.com", "PJSIP/out/sip:op@pbx.example.com"))
    [ring] = [c for c in out if isinstance(c, RingAgent)]
    assert ring.endpoint == "PJSIP/out/sip:op@pbx.example.com"
    assert {setup.board.status(a).state for a in ("ana", "bo")} == {State.READY}


def test_a_target_that_does_not_answer_leaves_the_call_waiting_for_the_next_command() -> None:
    setup = Setup()
    setup.join()
    connect = setup.connect(Target("agent", "ana", ""))
    [ring] = [c for c in connect if isinstance(c, RingAgent)]
    out = setup.handle(OfferEnded(ring.offer_id, "No answer"))
    # The caller's music goes on throughout: nothing but notes for its record.
    assert all(isinstance(c.event, CampaignNote) for c in connect + out if isinstance(c, TellCaller))
    assert told(out) == [("failed", {"to": "ana", "cause": "No answer"})]
    assert not [c for c in out if isinstance(c, (ClaimAgent, RingAgent))]
    assert setup.engine.backend_state("c1") == "waiting"
    assert [c for c in setup.connect(Target("agent", "bo", ""), "k2") if isinstance(c, RingAgent)]


def test_the_caller_leaving_is_told_with_why_or_who_hung_up() -> None:
    setup = Setup()
    setup.join()
    setup.now += 7
    assert told(setup.handle(CallerLeft("c1", "the caller hung up"))) == [
        ("left", {"why": "the caller hung up", "waited": 7.0})]
    assert setup.engine.backend_state("c1") is None


def test_an_unreachable_backend_leaves_the_call_to_the_campaigns_strategy() -> None:
    setup = Setup()
    setup.join()
    out = setup.handle(BackendAccepted("c1", "connection refused"))
    assert [c.agent for c in out if isinstance(c, ClaimAgent)] == ["ana"]
    assert setup.engine.backend_state("c1") == "strategy"
