"""ARI events as Asterisk 22 sends them (recorded from the bundled PBX), into core events."""

from __future__ import annotations

from ivr.core.events import CallStarted, DigitPressed, HungUp, PlaybackFinished
from ivr.stasis.translate import channel_of, stasis_args, translate

CHANNEL = {
    "id": "1763752000.12", "name": "PJSIP/loopback-00000003", "state": "Up",
    "caller": {"name": "sipp", "number": "sipp"},
    "dialplan": {"context": "ivr-inbound", "exten": "100", "priority": 3,
                 "app_name": "Stasis", "app_data": "ivr,inbound,100"},
}


def test_stasis_start_carries_route_exten_and_caller() -> None:
    event = {"type": "StasisStart", "args": ["inbound", "100"], "channel": CHANNEL}

    assert translate(event) == CallStarted(caller="sipp", exten="100", route="inbound",
                                              caller_name="sipp")
    assert channel_of(event) == "1763752000.12"


def test_stasis_start_without_args_takes_the_dialplan_exten() -> None:
    assert translate({"type": "StasisStart", "args": [], "channel": CHANNEL}) == CallStarted(
        caller="sipp", exten="100", route="", caller_name="sipp")


def test_dtmf_playback_and_hangup_events() -> None:
    playback = {"id": "c1-1", "target_uri": "channel:1763752000.12", "state": "done"}

    assert translate({"type": "ChannelDtmfReceived", "digit": "5", "duration_ms": 120,
                      "channel": CHANNEL}) == DigitPressed("5")
    assert translate({"type": "PlaybackFinished", "playback": playback}) == PlaybackFinished("c1-1")
    assert channel_of({"type": "PlaybackFinished", "playback": playback}) == "1763752000.12"
    assert translate({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing",
                      "channel": CHANNEL}) == HungUp("Normal Clearing")


def test_events_of_no_interest_give_nothing() -> None:
    assert translate({"type": "ChannelVarset", "variable": "X", "channel": CHANNEL}) is None
    assert channel_of({"type": "ApplicationReplaced", "application": "ivr"}) is None
    assert channel_of({"type": "PlaybackStarted", "playback": {"target_uri": "bridge:b1"}}) is None


def test_stasis_args_of_a_listed_channel() -> None:
    assert stasis_args(CHANNEL) == ["inbound", "100"]
    assert stasis_args({**CHANNEL, "dialplan": {"app_name": "Playback", "app_data": "x"}}) == []


def test_a_caller_back_from_the_requeue_loop_brings_its_place() -> None:
    event = {"type": "StasisStart", "args": ["requeue", "500", "sales:5:1795295425", "1234"],
             "channel": {"id": "c1", "caller": {"number": "600"}}}

    assert translate(event) == CallStarted("600", "500", "requeue", waiting="sales:5:1795295425",
                                           customer_id="1234")
