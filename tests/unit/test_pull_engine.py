"""Pull campaigns in the distribution engine: staff told of each call, a claim that rings the
taker, a taker who does not answer, voicemail, and callers who leave first."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from ivr.core.agents import AgentBoard, AgentProfile, AutoPause, State
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import (
    BridgeCall,
    ClaimAgent,
    ClosePull,
    DistributionCommand,
    LineEvent,
    OpenPull,
    ReopenPull,
    RingAgent,
    TellCaller,
    TextStaff,
)
from ivr.core.distribution.engine import Distribution
from ivr.core.distribution.events import (
    Bridged,
    CallerJoined,
    CallerLeft,
    CallerReady,
    CallPulled,
    OfferAnswered,
    OfferEnded,
    PullOpened,
    StaffTexted,
)
from ivr.core.events import AgentAnswered, AgentConnected, CampaignNote, PulledToVoicemail
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign

CALL = WaitingCall("+34915550000", "100", "", (("name", "María López"),), "MARIA L")
MOBILES = {"ana": "+34600000001", "bo": "+34600000002", "cy": ""}


class Setup:
    def __init__(self, **campaign: object) -> None:
        self.now = 1000.0
        profiles = {name: AgentProfile(name) for name in MOBILES}
        self.board = AgentBoard(profiles, lambda: self.now, AutoPause(after=0))
        self.board.log_in("ana")
        fields: dict[str, object] = {"agents": tuple(MOBILES), "mode": "pull",
                                     "voicemail_to": "hangup", **campaign}
        node = Campaign.model_validate(fields)
        agents = {name: Agent(phone="register", mobile=mobile) for name, mobile in MOBILES.items()}
        self.flow = Flow({Destination("campaign", "sales"): node}, {}, agents=agents)
        self.engine = Distribution(self.board, lambda: self.flow, lambda: self.now,
                                   lambda: datetime(2026, 12, 7, tzinfo=UTC), random.Random(1), strict=True)

    def handle(self, event: object) -> list[DistributionCommand]:
        return self.engine.handle(event)  # type: ignore[arg-type]

    def open(self, call_id: str = "c1", code: int = 17) -> list[DistributionCommand]:
        joined = self.handle(CallerJoined(call_id, "sales", 5, CALL))
        assert [c for c in joined if isinstance(c, OpenPull)] == [
            OpenPull(call_id, "sales", "+34915550000", "María López", "Madrid")]
        assert not [c for c in joined if isinstance(c, (ClaimAgent, RingAgent))]
        return self.handle(PullOpened(call_id, code))


def of(kind: type, commands: list[DistributionCommand]) -> list[DistributionCommand]:
    return [c for c in commands if isinstance(c, kind)]


def test_each_staff_member_with_a_mobile_is_texted_the_code_and_how_to_answer() -> None:
    setup = Setup()
    text = ("Call 17 waiting in sales: +34915550000 (María López, Madrid). "
            "Reply 17 T to take it, 17 V for voicemail.")
    assert of(TextStaff, setup.open()) == [TextStaff("ana", "+34600000001", text, "c1"),
                                          TextStaff("bo", "+34600000002", text, "c1")]
    notes = setup.handle(StaffTexted("c1", "bo", "kannel: connection refused"))
    assert notes == [TellCaller("c1", CampaignNote("pull: bo not texted: kannel: connection refused"))]


def test_a_take_by_sms_rings_the_taker_and_bridges_even_when_not_logged_in() -> None:
    setup = Setup()
    setup.open()
    out = setup.handle(CallPulled("c1", 17, "bo", "take", "sms"))
    assert TextStaff("bo", "+34600000002", "Call 17 is yours: ringing your phone.") in out
    ring = of(RingAgent, out)
    assert len(ring) == 1 and ring[0].agent == "bo" and ring[0].originator == "c1"
    offer = ring[0].offer_id
    assert TellCaller("c1", AgentAnswered("bo")) in setup.handle(OfferAnswered(offer))
    assert of(BridgeCall, setup.handle(CallerReady("c1"))) == [BridgeCall(f"{offer}-bridge", "c1", offer)]
    bridged = setup.handle(Bridged(offer, f"{offer}-bridge"))
    assert TellCaller("c1", AgentConnected("bo")) in bridged
    assert ClosePull(17, "taken by bo") in bridged
    assert setup.board.status("bo").state is State.LOGGED_OUT
    assert not of(ClosePull, setup.handle(CallerLeft("c1")))


def test_a_ready_taker_is_busy_for_pushed_calls_while_talking() -> None:
    setup = Setup()
    setup.open()
    offer = of(RingAgent, setup.handle(CallPulled("c1", 17, "ana", "take", "api")))[0].offer_id
    assert setup.board.status("ana").state is State.RINGING
    setup.handle(OfferAnswered(offer))
    assert setup.board.status("ana").state is State.ON_CALL


def test_a_taker_who_does_not_answer_puts_the_call_back_and_the_others_are_told() -> None:
    setup = Setup()
    setup.open()
    offer = of(RingAgent, setup.handle(CallPulled("c1", 17, "ana", "take", "sms")))[0].offer_id
    out = setup.handle(OfferEnded(offer, "No answer"))
    assert ReopenPull(17) in out
    again = ("Call 17 is open again in sales: +34915550000 (María López, Madrid). "
             "Reply 17 T to take it, 17 V for voicemail.")
    assert of(TextStaff, out) == [TextStaff("bo", "+34600000002", again, "c1")]
    assert setup.engine.is_waiting("c1")
    assert setup.engine.waiting_lines()["sales"][0].call_id == "c1"
    assert of(RingAgent, setup.handle(CallPulled("c1", 17, "bo", "take", "sms")))


def test_voicemail_sends_the_caller_on_and_closes_the_call() -> None:
    setup = Setup()
    setup.open()
    out = setup.handle(CallPulled("c1", 17, "bo", "voicemail", "sms"))
    assert TellCaller("c1", PulledToVoicemail("bo", "sms")) in out
    assert ClosePull(17, "sent to voicemail by bo") in out
    assert TextStaff("bo", "+34600000002", "Call 17 sent to voicemail.") in out
    assert not of(ClosePull, setup.handle(CallerLeft("c1", "sent to voicemail by bo")))


def test_voicemail_without_a_box_reopens_the_call() -> None:
    setup = Setup(voicemail_to=None)
    setup.open()
    out = setup.handle(CallPulled("c1", 17, "bo", "voicemail", "sms"))
    assert ReopenPull(17) in out and not [c for c in out if isinstance(c, TellCaller)
                                          and isinstance(c.event, PulledToVoicemail)]


def test_a_claim_on_a_caller_who_left_is_answered_and_rings_nobody() -> None:
    setup = Setup()
    setup.open()
    assert setup.handle(CallerLeft("c1")) == [LineEvent("sales", "c1", "abandoned", 0.0, position=1, first_position=1),
                                             ClosePull(17, "the caller hung up")]
    out = setup.handle(CallPulled("c1", 17, "bo", "take", "sms"))
    assert not of(RingAgent, out)
    assert TextStaff("bo", "+34600000002", "Call 17: the caller hung up.") in out


def test_a_call_that_could_not_be_stored_still_waits_and_its_record_says_why() -> None:
    setup = Setup()
    setup.handle(CallerJoined("c1", "sales", 5, CALL))
    out = setup.handle(PullOpened("c1", None, "database is locked"))
    assert TellCaller("c1", CampaignNote("pull: not stored (database is locked); no staff told")) in out
    assert not of(TextStaff, out) and setup.engine.is_waiting("c1")


def test_a_caller_who_left_while_being_stored_closes_the_call() -> None:
    setup = Setup()
    setup.handle(CallerJoined("c1", "sales", 5, CALL))
    setup.handle(CallerLeft("c1"))
    assert setup.handle(PullOpened("c1", 17)) == [ClosePull(17, "the caller hung up")]


@pytest.mark.parametrize("words", [{"take_words": ("STOP",)}, {"voicemail_words": ("help",)},
                                   {"take_words": ("T",), "voicemail_words": ("t",)}])
def test_carrier_keywords_and_shared_words_are_refused(words: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Campaign.model_validate({"agents": ("ana",), "mode": "pull", **words})
