"""`ivr bench contention`'s pure parts: pairing an agent's hang-up with its next ring from
Asterisk's AMI events, the callers' outcomes and waits, and the report's summaries."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.bench.ami_events import Event
from ivr.bench.contention import outcomes
from ivr.bench.contention_report import markdown, summarize
from ivr.bench.contention_timings import calls, free_to_ring


class Events:
    """A call's AMI events in Asterisk's format, with its timestamps."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, kind: str, at: float, channel: str, linked: str, **fields: str) -> None:
        uid = f"{channel}.id"
        self.events.append({"Event": kind, "Timestamp": f"{at:.6f}", "Channel": channel, "Uniqueid": uid,
                            "Linkedid": linked, **fields})

    def caller(self, name: str, entered: float) -> None:
        self.add("Newchannel", entered, f"PJSIP/loopback-{name}", name)
        self.add("Newstate", entered + 0.01, f"PJSIP/loopback-{name}", name, ChannelState="6")

    def served(self, caller: str, agent: str, rung: float, talk: float = 5.0, ring: float = 2.0) -> None:
        """``agent``'s phone rung for ``caller``, answered ``ring`` s later, both bridged, and
        the agent hanging up ``talk`` s after."""
        channel = f"PJSIP/agent-{agent}-{caller}"
        self.add("Newchannel", rung, channel, caller)
        self.add("Newstate", rung + ring, channel, caller, ChannelState="6")
        for leg in (channel, f"PJSIP/loopback-{caller}"):
            self.add("BridgeEnter", rung + ring, leg, caller, BridgeUniqueid=f"bridge-{caller}")
        self.add("Hangup", rung + ring + talk, channel, caller, Cause="16")
        self.add("Hangup", rung + ring + talk, f"PJSIP/loopback-{caller}", caller, Cause="16")


def two_agents_three_callers() -> Events:
    """Agents a and b; callers 1, 2, 3 come at 0; a takes 1, b takes 2; a hangs up at 7.1 and
    is rung for 3 at 7.35; b, free at 7.2 with nobody left, is never rung again."""
    events = Events()
    for name in ("1", "2", "3"):
        events.caller(name, 0.0)
    events.served("1", "a", 0.1)
    events.served("2", "b", 0.2)
    events.served("3", "a", 7.35)
    return events


def test_an_agent_hanging_up_then_rung_for_a_waiting_caller() -> None:
    callers, legs = calls(two_agents_three_callers().events)

    assert free_to_ring(callers, legs) == [pytest.approx(0.25)]
    assert sorted(leg.phone for leg in legs) == ["agent-a", "agent-a", "agent-b"]
    assert [c.answered - c.entered for c in sorted(callers, key=lambda c: c.offered or 0)
            if c.answered is not None] == [pytest.approx(2.1), pytest.approx(2.2), pytest.approx(9.35)]


def test_an_agent_rung_again_after_an_idle_spell_does_not_count() -> None:
    """Caller 2 comes long after a freed up: a was idle, not slow."""
    events = Events()
    events.caller("1", 0.0)
    events.served("1", "a", 0.1)
    events.caller("2", 30.0)
    events.served("2", "a", 30.05)

    callers, legs = calls(events.events)

    assert free_to_ring(callers, legs) == []


def test_with_more_free_agents_than_waiting_callers_none_counts() -> None:
    """a and b free up at once with one caller waiting: b taking it says nothing of a, which
    rightly stays idle; nor of b, whose turn among the free agents depends on the strategy."""
    events = Events()
    for name in ("1", "2", "3"):
        events.caller(name, 0.0)
    events.served("1", "a", 0.1)
    events.served("2", "b", 0.1)
    events.served("3", "b", 7.2)

    callers, legs = calls(events.events)

    assert free_to_ring(callers, legs) == []


def test_a_caller_never_offered_is_a_failure_and_counts_as_waiting() -> None:
    events = two_agents_three_callers()
    events.caller("4", 1.0)
    events.add("Hangup", 60.0, "PJSIP/loopback-4", "4", **{"Cause-txt": "Normal Clearing"})

    callers, legs = calls(events.events)

    assert outcomes(callers, 5) == {"completed": 3, "failed": 2, "failures": {
        "never offered (Normal Clearing)": 1, "never reached Asterisk": 1}}
    # With caller 4 waiting, b's free moment at 7.2 had as many callers waiting as free agents.
    assert free_to_ring(callers, legs) == [pytest.approx(0.25)]


def run(way: str, repeat: int, p99: float, failed: int = 0) -> dict[str, Any]:
    return {"way": way, "repeat": repeat, "completed": 200 - failed, "failed": failed,
            "failures": {"no agent answered": failed} if failed else {}, "offers": 200,
            "free_to_ring_ms": {"p50": p99 / 2, "p95": p99, "p99": p99, "max": p99 * 1.5, "count": 180},
            "wait_ms": {"p50": 20000.0, "p95": 39000.0, "p99": 40000.0, "max": 41000.0, "count": 200},
            "cpu_ms_per_offer": {"asterisk": 30.0, **({"app": 15.0} if way == "app" else {})},
            "sipp_exit": 0, "channels_left_over": 0, "seconds": 80.0}


def test_the_summary_takes_medians_of_the_repetitions_and_the_ratio_of_their_p99() -> None:
    runs = [run("app", 1, 12.0), run("app_queue", 1, 900.0), run("app", 2, 30.0),
            run("app_queue", 2, 1000.0), run("app", 3, 20.0), run("app_queue", 3, 950.0)]

    summary = summarize(runs)

    assert summary["app"]["free_to_ring_ms"]["p99"] == {"median": 20.0, "low": 12.0, "high": 30.0}
    assert summary["app_queue"]["cpu_ms_per_offer"] == {"asterisk": {"median": 30.0, "low": 30.0, "high": 30.0}}
    assert summary["ratio"] == pytest.approx(20 / 950, abs=0.001)
    assert summary["goal_met"] is True


def test_failed_callers_leave_the_goal_unjudged() -> None:
    summary = summarize([run("app", 1, 10.0, failed=2), run("app_queue", 1, 900.0)])

    assert summary["app"]["failed"] == 2
    assert summary["goal_met"] is None


def test_the_page_has_the_headline_each_way_and_every_run() -> None:
    runs = [run("app", 1, 20.0), run("app_queue", 1, 1000.0)]
    machine = {"cpu": "x", "cores": 2, "memory_gb": 4.0, "system": "Linux", "asterisk": "Asterisk 22",
               "sipp": "SIPp", "load_average_at_start": [0.1, 0.2, 0.3], "other_asterisk_processes": 1}
    plan = {"callers": 200, "arrival_seconds": 20.0, "agents": 20, "ring_ms": 2000, "talk_ms": 5000, "repeat": 1}

    page = markdown({"started": "2026-12-07T15:00:00+00:00", "minutes": 3.0, "machine": machine, "plan": plan,
                     "runs": runs, "summary": summarize(runs)})

    assert "app / app_queue: **0.02x** (20 vs 1000 ms; goal <= 1.5x: met)" in page
    assert "**The machine was shared**: 1 other Asterisk process(es)" in page
    assert "| app_queue | 200 | 0 | 500 (500-500) / 1000 (1000-1000) / 1500 (1500-1500) |" in page
    assert "| 1 | app | 200 | — | 200 | 10 / 20 / 30 (180) | 20000 / 40000 | 30 / 15 | 80 |" in page
