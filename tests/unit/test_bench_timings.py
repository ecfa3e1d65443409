"""Call timings from AMI events, as Asterisk sends them for the three ways of the benchmark."""

from __future__ import annotations

import pytest

from ivr.bench.ami_events import split_events
from ivr.bench.call_timings import call_timings


def event(kind: str, at: float, uid: str, **fields: str) -> dict[str, str]:
    return {"Event": kind, "Timestamp": f"{at:.6f}", "Uniqueid": uid, **fields}


def call(caller: str = "1.1", agent: str = "1.2", digits: int = 4, agent_up: bool = True,
         bridged: bool = True) -> list[dict[str, str]]:
    events = [event("Newchannel", 100.0, caller, Channel="PJSIP/loopback-00000001", Linkedid=caller),
              event("Newstate", 100.002, caller, ChannelState="6"),
              *(event("DTMFEnd", 101.0 + i / 4, caller, Direction="Received", Digit=str(i)) for i in range(digits)),
              event("DTMFEnd", 101.9, caller, Direction="Sent", Digit="9"),
              event("Newchannel", 101.76, agent, Channel="PJSIP/agent-a1-00000002", Linkedid=caller)]
    if agent_up:
        events.append(event("Newstate", 101.77, agent, ChannelState="6"))
    events.append(event("BridgeEnter", 101.3, caller, BridgeUniqueid="holding"))
    if bridged:
        events += [event("BridgeEnter", 101.78, agent, BridgeUniqueid="b1"),
                   event("BridgeEnter", 101.79, caller, BridgeUniqueid="b1")]
    return [*events, event("Hangup", 110.0, caller, **{"Cause-txt": "Normal Clearing"})]


def test_a_bridged_call_is_timed_from_its_fourth_digit() -> None:
    (timing,) = call_timings(call(), digits=4)

    assert timing.outcome == "completed"
    assert timing.invite_to_answer == pytest.approx(0.002)
    assert timing.digit_to_agent_answer == pytest.approx(0.02)
    assert timing.digit_to_bridge == pytest.approx(0.04)


@pytest.mark.parametrize(("changes", "outcome"), [
    ({"digits": 3}, "3 of 4 digits received"),
    ({"agent_up": False}, "no agent answered"),
    ({"bridged": False}, "agent answered, never bridged"),
])
def test_a_call_that_did_not_reach_an_agent_says_why(changes: dict[str, object], outcome: str) -> None:
    (timing,) = call_timings(call(**changes), digits=4)  # type: ignore[arg-type]

    assert timing.outcome == outcome


def test_a_caller_never_answered_gives_the_hang_up_cause() -> None:
    events = [event("Newchannel", 1.0, "9.1", Channel="PJSIP/loopback-00000009", Linkedid="9.1"),
              event("Hangup", 2.0, "9.1", **{"Cause-txt": "User busy"})]

    assert [t.outcome for t in call_timings(events, digits=4)] == ["caller not answered (User busy)"]


def test_calls_are_told_apart_by_linked_id_and_other_channels_ignored() -> None:
    others = [event("Newchannel", 1.0, "5.1", Channel="Local/x@y-0001;1", Linkedid="5.1")]

    timings = call_timings([*call("1.1", "1.2"), *call("2.1", "2.2", digits=2), *others], digits=4)

    assert sorted(t.outcome for t in timings) == ["2 of 4 digits received", "completed"]


def test_ami_messages_split_across_reads_come_out_whole() -> None:
    text = "Event: Newstate\r\nUniqueid: 1.1\r\nChannelState: 6\r\n\r\nEvent: Hangup\r\nUniq"

    first, rest = split_events(text[:30])
    second, rest = split_events(rest + text[30:])
    third, rest = split_events(rest + "ueid: 1.1\r\n\r\n")

    assert first == [] and third == [{"Event": "Hangup", "Uniqueid": "1.1"}] and rest == ""
    assert second == [{"Event": "Newstate", "Uniqueid": "1.1", "ChannelState": "6"}]
