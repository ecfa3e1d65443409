"""The benchmark's goals and report, judged from measured runs."""

from __future__ import annotations

from typing import Any

from ivr.bench.goals import judge, most_without_failures
from ivr.bench.report import markdown


def run(way: str, concurrent: int, p99: float, failed: int = 0, phase: str = "ramp", crm: float = 0.0,
        app_cpu: float | None = None, asterisk_cpu: float = 20.0, lag: float | None = None) -> dict[str, Any]:
    latency = {"p50": p99 / 2, "p95": p99, "p99": p99, "max": p99, "count": concurrent - failed}
    return {"way": way, "phase": phase, "concurrent": concurrent, "rate": 10.0, "crm_latency_s": crm,
            "crm_failure_rate": 0.0, "attempted": concurrent, "completed": concurrent - failed, "failed": failed,
            "failures": {"no agent answered": failed} if failed else {}, "sipp_exit": 0, "seconds": 20.0,
            "digit_to_agent_answer_ms": latency, "digit_to_bridge_ms": latency, "invite_to_answer_ms": latency,
            "cpu_ms_per_call": {"asterisk": asterisk_cpu, **({"app": app_cpu} if app_cpu is not None else {})},
            "mb_per_concurrent_call": {"asterisk": 0.5}, "channels_left_over": 0,
            "loop_lag_ms": None if lag is None else {"p50": 1.0, "p95": lag, "p99": lag, "max": lag, "count": 9}}


RUNS = [
    run("dialplan", 100, 10.0), run("agi", 100, 100.0), run("app", 100, 15.0, app_cpu=8.0, lag=3.0),
    run("dialplan", 200, 12.0), run("agi", 200, 300.0, failed=4), run("app", 200, 30.0, failed=1, app_cpu=30.0),
    run("app", 200, 1090.0, phase="slow-crm", crm=1.0, app_cpu=9.0),
]


def test_each_goal_is_judged_on_ratios_of_the_same_run() -> None:
    goals = {goal.name: goal for goal in judge(RUNS)}

    assert [(g.measured, g.met) for g in goals.values()] == [
        ("1.50x (15.0 vs 10.0)", True),
        ("0.15x (15.0 vs 100.0)", True),
        ("0.40x (at 100 calls)", True),  # the failing run at 200 is not counted
        ("0.50x (100.0 vs 200.0)", False),
        ("1090 ms (0 failed)", True),
        ("3.0 ms", True),
    ]


def test_a_goal_whose_runs_are_missing_is_not_measured() -> None:
    goals = judge([run("dialplan", 100, 10.0)])

    assert [g.met for g in goals] == [None] * 6
    assert {g.measured for g in goals} == {"not measured"}


def test_the_ramp_stops_counting_at_the_first_failing_load() -> None:
    runs = [run("app", 10, 1.0), run("app", 50, 1.0, failed=1), run("app", 100, 1.0)]

    assert most_without_failures(runs, "app") == 10
    assert most_without_failures(runs, "dialplan") == 0


def test_the_page_names_the_machine_the_goals_and_every_run() -> None:
    machine = {"cpu": "Xeon", "cores": 2, "memory_gb": 24.0, "system": "Linux 6", "python": "3.11.7",
               "asterisk": "Asterisk 22.10.1", "sipp": "SIPp v3.6.1", "load_average_at_start": [1.0, 0.5, 0.2],
               "other_asterisk_processes": 1}

    page = markdown({"started": "2026-11-21T23:00:00+00:00", "minutes": 12.5, "quick": False,
                     "machine": machine, "runs": RUNS}, "benchmarks.png")

    assert "Xeon, 2 cores" in page and "**The machine was shared**: 1 other Asterisk" in page
    assert "| most concurrent calls without failures, app / dialplan | >= 0.9x | 0.50x (100.0 vs 200.0) " \
           "| **missed** |" in page
    assert "| 100 | 1.50x | 0.15x | 0.40x |" in page
    assert "| agi | ramp | 200 | 10 | 0 | 196/200 | 4 no agent answered | 150 / 300 / 300 / 300 |" in page
    assert page.count("\n| app |") == 3
    assert "The ramp ends at 200 concurrent calls; dialplan carried it without a failure" in page
