"""A caller in an app-run campaign, as the pure core sees it."""

from __future__ import annotations

from pathlib import Path

from ivr.core.call_flow import CallFlow
from ivr.core.campaign import ANNOUNCE, KEEP_ANSWER, KEEP_ANSWER_SECONDS, MAX_WAIT
from ivr.core.commands import (
    Answer,
    AskPosition,
    CancelTimer,
    ConnectAgent,
    ContinueInDialplan,
    Finished,
    Hangup,
    JoinCampaign,
    LeaveCampaign,
    Play,
    RememberAgent,
    SetVariable,
    StartMoh,
    StartTimer,
    StopMoh,
    StopPlayback,
    WaitingCall,
)
from ivr.core.events import (
    AgentAnswered,
    AgentConnected,
    AgentHungUp,
    CallStarted,
    DigitPressed,
    HungUp,
    OwnAgentBusy,
    PlaybackFinished,
    QueuePosition,
    Resumed,
    TimerFired,
)
from ivr.flow_file import load_flow
from tests.unit.test_call_flow import NOW

FLOW = """
[entry]
default = "campaign:sales"

[campaign.sales]
agents = ["ana"]
max_wait = 60
on_max_wait = "message:sorry"
music = "sales"
announce_every = 30
exit_key = "0"
on_exit = "voicemail:box"

[voicemail.box]
box = "100@ivr"

[message.sorry]
prompt = ["sound:ivr/sorry"]

[agent.ana]
phone = "sip:ana@127.0.0.1:5070"
"""


SINCE = int(NOW.timestamp())


def started(tmp_path: Path) -> tuple[CallFlow, list[object]]:
    path = tmp_path / "flows.toml"
    path.write_text(FLOW)
    call = CallFlow("c1", load_flow(path), lambda: NOW)
    return call, list(call.handle(CallStarted("600", "100", "inbound")))


def test_the_caller_waits_with_music_in_the_line(tmp_path: Path) -> None:
    _, commands = started(tmp_path)

    assert commands == [Answer(), SetVariable("IVR_ENTRY", "campaign:sales"),
                        SetVariable("__IVR_CAMPAIGN", "sales"), SetVariable("IVR_WAITING", f"sales:5:{SINCE}"),
                        StartMoh("sales"),
                        JoinCampaign("sales", 5, WaitingCall("600", "100"), 0.0),
                        StartTimer(MAX_WAIT, 60.0), StartTimer(ANNOUNCE, 30.0)]


def test_an_agent_answering_stops_the_music_and_the_clock(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    assert call.handle(AgentConnected("ana")) == [CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE), StopMoh(),
                                                  SetVariable("IVR_AGENT", "ana")]
    assert call.facts.agent == "ana"


def test_the_agent_hanging_up_first_ends_the_call_and_says_so(tmp_path: Path) -> None:
    call, _ = started(tmp_path)
    call.handle(AgentConnected("ana"))

    commands = call.handle(AgentHungUp("ana"))

    assert commands == [Hangup("normal"), Finished("hung up by the flow", call.facts)]
    assert call.facts.notes == ["campaign sales: agent ana hung up first"]


def test_the_caller_hanging_up_while_waiting_is_noted(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    commands = call.handle(HungUp("16"))

    assert commands == [Finished("caller hung up (16)", call.facts)]
    assert call.facts.notes == ["campaign sales: the caller hung up while waiting"]


def test_no_agent_within_the_longest_wait_sends_the_caller_on(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    commands = call.handle(TimerFired(MAX_WAIT))

    assert commands == [CancelTimer(ANNOUNCE), LeaveCampaign("sales", "no agent within 60 s", "timeout"), StopMoh(),
                        SetVariable("IVR_WAITING", ""), Play("c1-1", ("sound:ivr/sorry",))]
    assert call.facts.nodes == ["campaign:sales", "message:sorry"]


def test_a_reconnect_restarts_the_music_while_waiting(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    assert call.handle(Resumed()) == [StartMoh("sales")]


def test_the_position_and_wait_are_announced_over_the_music_then_it_resumes(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    assert call.handle(TimerFired(ANNOUNCE)) == [AskPosition("sales")]
    assert call.handle(QueuePosition(2, 3)) == [StopMoh(), Play("c1-1", (
        "sound:queue-thereare", "number:1", "sound:queue-callswaiting", "sound:queue-holdtime", "number:3",
        "sound:queue-minutes"))]
    assert call.handle(PlaybackFinished("c1-1")) == [StartMoh("sales"), StartTimer(ANNOUNCE, 30.0)]


def test_an_agent_answering_during_an_announcement_stops_it_and_nothing_starts_before_the_bridge(
        tmp_path: Path) -> None:
    call, _ = started(tmp_path)
    call.handle(QueuePosition(1, None))

    assert call.handle(AgentAnswered("ana")) == [StopPlayback("c1-1"), CancelTimer(ANNOUNCE), ConnectAgent()]
    assert call.handle(PlaybackFinished("c1-1")) == []
    assert call.handle(QueuePosition(1, None)) == []
    assert call.handle(DigitPressed("0")) == []
    assert call.handle(AgentConnected("ana")) == [CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE), StopMoh(),
                                                  SetVariable("IVR_AGENT", "ana")]


def test_an_agent_lost_before_the_bridge_puts_the_caller_back_to_waiting(tmp_path: Path) -> None:
    call, _ = started(tmp_path)
    call.handle(AgentAnswered("ana"))

    assert call.handle(AgentHungUp("ana")) == [StartMoh("sales"), StartTimer(ANNOUNCE, 30.0)]
    assert call.handle(AgentConnected("bo"))[-1] == SetVariable("IVR_AGENT", "bo")
    assert call.facts.notes == ["campaign sales: agent ana lost before the bridge"]


def test_the_exit_key_leaves_the_line_even_during_an_announcement(tmp_path: Path) -> None:
    call, _ = started(tmp_path)
    call.handle(QueuePosition(1, None))

    commands = call.handle(DigitPressed("0"))

    assert commands[:5] == [StopPlayback("c1-1"), CancelTimer(MAX_WAIT), CancelTimer(ANNOUNCE),
                            LeaveCampaign("sales", "the caller pressed 0 to leave", "key", "0"), StopMoh()]
    assert ContinueInDialplan("ivr-voicemail", "s", 1) in commands
    assert call.facts.notes == ["campaign sales: the caller pressed 0 to leave"]


def test_other_keys_are_ignored_while_waiting(tmp_path: Path) -> None:
    call, _ = started(tmp_path)

    assert call.handle(DigitPressed("5")) == []


def test_a_caller_taken_back_after_a_restart_keeps_its_place_and_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(FLOW)
    call = CallFlow("c1", load_flow(path), lambda: NOW)

    commands = call.handle(CallStarted("600", "100", "inbound", resumed=True,
                                       waiting=f"sales:2:{SINCE - 20}", customer_id="1234"))

    assert JoinCampaign("sales", 2, WaitingCall("600", "100", "1234"), 20.0) in commands
    assert StartTimer(MAX_WAIT, 40.0) in commands
    assert call.facts.notes == ["campaign sales: taken back after an app restart"]


def test_a_restart_with_no_campaign_wait_starts_the_flow_again(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(FLOW)
    call = CallFlow("c1", load_flow(path), lambda: NOW)

    commands = call.handle(CallStarted("600", "100", "inbound", resumed=True, waiting=""))

    assert commands[:2] == [Answer(), SetVariable("IVR_ENTRY", "campaign:sales")]


def remembering(folder: Path) -> CallFlow:
    folder.mkdir(exist_ok=True)
    path = folder / "flows.toml"
    path.write_text(FLOW.replace('exit_key = "0"', 'exit_key = "0"\nremember_agent = true\n'
                                 'own_agent_busy_prompt = ["sound:ivr/own-agent-busy"]'))
    call = CallFlow("c1", load_flow(path), lambda: NOW)
    call.facts.customer_id = "1234"
    call.handle(CallStarted("600", "100", "inbound"))
    call.handle(AgentConnected("ana"))
    return call


def test_after_the_agent_hangs_up_the_caller_is_asked_whether_to_keep_them(tmp_path: Path) -> None:
    call = remembering(tmp_path)

    asked = call.handle(AgentHungUp("ana"))
    waiting = call.handle(PlaybackFinished("c1-1"))
    kept = call.handle(DigitPressed("1"))

    assert asked == [Play("c1-1", ("sound:ivr/keep-agent",))]
    assert waiting == [StartTimer(KEEP_ANSWER, KEEP_ANSWER_SECONDS)]
    assert kept[:2] == [CancelTimer(KEEP_ANSWER), RememberAgent("1234", "ana")]
    assert call.facts.notes[-1] == "campaign sales: the caller keeps agent ana"


def test_two_forgets_the_agent_and_silence_changes_nothing(tmp_path: Path) -> None:
    declined, silent = remembering(tmp_path / "declined"), remembering(tmp_path / "silent")
    for call in (declined, silent):
        call.handle(AgentHungUp("ana"))

    forgot = declined.handle(DigitPressed("2"))
    ignored = silent.handle(DigitPressed("5"))
    timed_out = silent.handle(TimerFired(KEEP_ANSWER))

    assert RememberAgent("1234", "") in forgot
    assert ignored == [] and not any(isinstance(c, RememberAgent) for c in timed_out)
    assert timed_out[-1] == Finished("hung up by the flow", silent.facts)
    assert silent.facts.notes[-1] == "campaign sales: no answer on keeping the agent"


def test_a_busy_own_agent_is_told_to_the_caller_then_the_music_resumes(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(FLOW.replace('exit_key = "0"', 'exit_key = "0"\n'
                                 'own_agent_busy_prompt = ["sound:ivr/own-agent-busy"]'))
    call = CallFlow("c1", load_flow(path), lambda: NOW)
    call.handle(CallStarted("600", "100", "inbound"))

    told = call.handle(OwnAgentBusy("bo"))
    resumed = call.handle(PlaybackFinished("c1-1"))

    assert told == [StopMoh(), Play("c1-1", ("sound:ivr/own-agent-busy",))]
    assert resumed == [StartMoh("sales"), StartTimer(ANNOUNCE, 30.0)]
    assert call.facts.notes == ["campaign sales: own agent bo not available"]
