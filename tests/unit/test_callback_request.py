"""A caller asking to be called back (the callback node), event by event, and its flow-file checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.core.call_flow import CallFlow
from ivr.core.callback_request import CONFIRM, CONFIRM_SECONDS
from ivr.core.callbacks import Limits, NewCallback, RetryPolicy
from ivr.core.campaign import ANNOUNCE, MAX_WAIT
from ivr.core.commands import (
    CancelTimer,
    Command,
    Finished,
    Hangup,
    JoinCampaign,
    LeaveCampaign,
    Play,
    RecordMessage,
    RegisterCallback,
    SetVariable,
    StartTimer,
    StopMoh,
    WaitingCall,
)
from ivr.core.events import (
    CallbackRegistered,
    CallStarted,
    DigitPressed,
    HungUp,
    MessageRecorded,
    PlaybackFinished,
    QueuePosition,
)
from ivr.flow_file import load_flow
from tests.unit.test_call_flow import NOW
from tests.unit.test_flow_file import MINIMAL, problems

FLOW = """
[entry]
default = "campaign:sales"
"200" = "callback:sales"

[campaign.sales]
agents = ["ana"]
music = "sales"
announce_every = 30
callback = "sales"
callback_key = "2"
callback_after = 120

[callback.sales]
campaign = "sales"
trunk = "pstn"
caller_id = "+34911000000"
country = "ES"
message_seconds = 20

[trunk.pstn]
dial = "PJSIP/{number}@pstn"
allow = ["+34*"]

[agent.ana]
phone = "sip:ana@127.0.0.1:5070"
"""

SINCE = int(NOW.timestamp())
READBACK = tuple(f"sound:digits/{digit}" for digit in "600111222")
ASKED = datetime.fromtimestamp(SINCE, UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def waiting(tmp_path: Path, caller: str = "600111222", flow: str = FLOW,
            exten: str = "100") -> tuple[CallFlow, Clock]:
    path = tmp_path / "flows.toml"
    path.write_text(flow)
    clock = Clock()
    call = CallFlow("c1", load_flow(path), clock)
    call.handle(CallStarted(caller, exten, "inbound"))
    return call, clock


def plays(commands: list[Command]) -> list[tuple[str, ...]]:
    return [c.media for c in commands if isinstance(c, Play)]


def registration(priority: int = 5, arrived: datetime = ASKED, message: str = "ivr-callback-c1") -> RegisterCallback:
    return RegisterCallback(
        NewCallback("sales", "+34600111222", "+34911000000", "", (), priority, arrived, message, "c1", "sales"),
        RetryPolicy(0.0, 3, 300.0, 86_400.0), Limits(1, 3))


def test_a_waiting_caller_asks_confirms_leaves_a_message_and_is_registered_at_its_place(tmp_path: Path) -> None:
    call, clock = waiting(tmp_path)
    clock.now += timedelta(seconds=40)

    out = call.handle(DigitPressed("2"))
    assert out[:5] == [CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE), LeaveCampaign("sales", "the caller asked for a callback", "callback"),
                       StopMoh(), SetVariable("IVR_WAITING", "")]
    assert plays(out) == [(*READBACK, "sound:ivr/callback-confirm")]
    assert call.handle(PlaybackFinished("c1-1")) == [StartTimer(CONFIRM, CONFIRM_SECONDS)]
    out = call.handle(DigitPressed("1"))
    assert out == [CancelTimer(CONFIRM), Play("c1-2", ("sound:ivr/callback-leave-message",))]
    assert call.handle(PlaybackFinished("c1-2")) == [RecordMessage("ivr-callback-c1", 20.0, 3.0)]
    assert call.handle(MessageRecorded("ivr-callback-c1")) == [registration()]

    out = call.handle(CallbackRegistered("k1"))
    assert out == [SetVariable("IVR_CALLBACK", "k1"), Play("c1-3", ("sound:ivr/callback-registered",))]
    assert call.handle(PlaybackFinished("c1-3")) == [Hangup("normal"), Finished("hung up by the flow", call.facts)]
    assert call.facts.nodes == ["campaign:sales", "callback:sales", "hangup"]
    assert "callback sales: registered as k1" in call.facts.notes


def test_declining_puts_the_caller_back_at_the_same_place(tmp_path: Path) -> None:
    call, clock = waiting(tmp_path)
    clock.now += timedelta(seconds=40)
    call.handle(DigitPressed("2"))

    out = call.handle(DigitPressed("*"))
    assert SetVariable("IVR_WAITING", f"sales:5:{SINCE}") in out
    assert JoinCampaign("sales", 5, WaitingCall("600111222", "100"), 40.0) in out
    assert StartTimer(MAX_WAIT, 260.0) in out


def test_a_store_that_fails_tells_the_caller_and_keeps_its_place(tmp_path: Path) -> None:
    call, _ = waiting(tmp_path)
    call.handle(DigitPressed("2"))
    call.handle(DigitPressed("1"))
    call.handle(PlaybackFinished("c1-2"))
    call.handle(MessageRecorded("", failed="Recording failed"))

    out = call.handle(CallbackRegistered(failed="database unreachable"))
    assert plays(out) == [("sound:ivr/callback-not-registered",)]
    out = call.handle(PlaybackFinished("c1-3"))
    assert JoinCampaign("sales", 5, WaitingCall("600111222", "100"), 0.0) in out
    assert "callback sales: not registered: database unreachable" in call.facts.notes
    assert "callback sales: no message recorded (Recording failed)" in call.facts.notes


def test_a_caller_without_a_usable_number_keys_one_and_three_bad_ones_decline(tmp_path: Path) -> None:
    call, _ = waiting(tmp_path, caller="anonymous")
    out = call.handle(DigitPressed("2"))
    assert plays(out) == [("sound:ivr/callback-enter-number",)]

    for digit in "600111222#":
        out = call.handle(DigitPressed(digit))
    assert plays(out) == [(*READBACK, "sound:ivr/callback-confirm")]

    call.handle(DigitPressed("2"))
    for attempt in range(3):
        for digit in "803123456#":
            out = call.handle(DigitPressed(digit))
        if attempt < 2:
            assert plays(out) == [("sound:ivr/callback-invalid-number", "sound:ivr/callback-enter-number")]
    assert any(isinstance(c, JoinCampaign) for c in out)
    assert call.facts.notes.count("callback sales: number refused (premium_rate)") == 3


def test_a_number_outside_the_trunks_allow_list_is_refused(tmp_path: Path) -> None:
    call, _ = waiting(tmp_path, caller="+447400123456", flow=FLOW.replace('country = "ES"',
                                                                          'country = "ES"\ncountries = ["ES", "GB"]'))
    out = call.handle(DigitPressed("2"))

    assert plays(out) == [("sound:ivr/callback-enter-number",)]
    assert ("callback sales: the caller's own number is not one to call back (not in the allow list of "
            "trunk pstn); asked") in call.facts.notes


def test_a_caller_hanging_up_before_the_request_is_stored_abandons(tmp_path: Path) -> None:
    call, _ = waiting(tmp_path)
    call.handle(DigitPressed("2"))

    out = call.handle(HungUp("16"))
    assert not any(isinstance(c, RegisterCallback) for c in out)
    assert "callback sales: the caller hung up before the request was stored (abandoned)" in call.facts.notes


def test_the_callback_is_offered_once_the_estimated_wait_reaches_the_threshold(tmp_path: Path) -> None:
    call, _ = waiting(tmp_path)

    assert plays(call.handle(QueuePosition(3, 1))) == [
        ("sound:queue-thereare", "number:2", "sound:queue-callswaiting", "sound:queue-holdtime", "number:1",
         "sound:queue-minutes")]
    call.handle(PlaybackFinished("c1-1"))
    assert plays(call.handle(QueuePosition(3, 2)))[0][-1] == "sound:ivr/callback-offer"
    call.handle(PlaybackFinished("c1-2"))
    assert plays(call.handle(QueuePosition(3, 3)))[0][-1] == "sound:queue-minutes"


def test_a_callback_only_campaign_sends_callers_there_and_a_decline_hangs_up(tmp_path: Path) -> None:
    flow = FLOW.replace("callback_key = \"2\"", "callback_only = true")
    call, _ = waiting(tmp_path, flow=flow)
    assert call.facts.nodes == ["campaign:sales", "callback:sales"]

    out = call.handle(DigitPressed("*"))
    assert plays(out) == [("sound:ivr/callback-not-registered",)]
    assert call.handle(PlaybackFinished("c1-2")) == [Hangup("normal"), Finished("hung up by the flow", call.facts)]


def test_a_callback_before_any_campaign_takes_its_place_on_arrival(tmp_path: Path) -> None:
    call, clock = waiting(tmp_path, exten="200")
    clock.now += timedelta(seconds=30)
    call.handle(DigitPressed("1"))
    call.handle(PlaybackFinished("c1-2"))

    assert call.handle(MessageRecorded("m")) == [registration(message="m")]


def test_callback_flow_file_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[campaign.sales]
callback = "nowhere"

[campaign.other]
agents = ["ana"]
callback = "cb"

[callback.cb]
campaign = "sales"
trunk = "none"
country = "ES"

[agent.ana]
phone = "register"
""") == [
        "flows.toml:8: [campaign.sales] callback: no node callback:nowhere in this file",
        "flows.toml:12: [campaign.other] callback: callback:cb calls back for campaign sales, not other",
        "flows.toml:15: [callback.cb] campaign: campaign sales has no agents: only one the app runs can call back",
        "flows.toml:16: [callback.cb] trunk: no trunk 'none' ([trunk.none])",
    ]
