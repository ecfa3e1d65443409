"""The benchmark's goals and report, judged from measured runs."""

from __future__ import annotations

from typing import Any

from ivr.bench.goals import judge, most_without_failures
from ivr.bench.limits import limit
from ivr.bench.report import markdown


def run(way: str, concurrent: int, p99: float, failed: int = 0, phase: str = "ramp", crm: float = 0.0,
        app_cpu: float | None = None, asterisk_cpu: float = 20.0, lag: float | None = None, repetition: int = 1,
        failures: dict[str, int] | None = None, busy: float = 0.5) -> dict[str, Any]:
    latency = {"p50": p99 / 2, "p95": p99, "p99": p99, "max": p99, "count": concurrent - failed}
    per_call = {"ari_requests": 11.0, "ari_requests_by": {"POST channels": 6.0, "GET bridges": 5.0},
                "ari_events": 8.0, "turned_away": 0, "calls_by_outcome": {"hangup": concurrent}}
    return {"way": way, "phase": phase, "concurrent": concurrent, "rate": 10.0, "crm_latency_s": crm,
            "crm_failure_rate": 0.0, "attempted": concurrent, "completed": concurrent - failed, "failed": failed,
            "failures": failures if failures is not None else {"no agent answered": failed} if failed else {},
            "sipp_exit": 0, "seconds": 20.0, "repetition": repetition, "machine_busy": busy,
            "digit_to_agent_answer_ms": latency, "digit_to_bridge_ms": latency, "invite_to_answer_ms": latency,
            "cpu_ms_per_call": {"asterisk": asterisk_cpu, **({"app": app_cpu} if app_cpu is not None else {})},
            "mb_per_concurrent_call": {"asterisk": 0.5}, "channels_left_over": 0, "ami_events_per_call": 14.0,
            "app_per_call": per_call if way == "app" else None,
            "loop_lag_ms": None if lag is None else {"p50": 1.0, "p95": lag, "p99": lag, "max": lag, "count": 9}}


RUNS = [
    run("dialplan", 100, 10.0), run("agi", 100, 100.0), run("app", 100, 15.0, app_cpu=5.0, lag=3.0),
    run("dialplan", 200, 12.0), run("agi", 200, 300.0, failed=4), run("app", 200, 30.0, failed=1, app_cpu=30.0),
    run("app", 200, 1090.0, phase="slow-crm", crm=1.0, app_cpu=9.0),
]
OVERLOAD = [run("dialplan", 200, 14.0, phase="overload"),
            run("app", 200, 18.0, failed=90, phase="overload", app_cpu=5.0,
                failures={"sent to the fallback": 88, "caller not answered (Normal Clearing)": 2})]


def test_each_goal_is_judged_on_ratios_of_the_same_run() -> None:
    goals = {goal.name: goal for goal in judge(RUNS + OVERLOAD)}

    assert [(g.measured, g.met) for g in goals.values()] == [
        ("2.50x at worst (200 calls: 30.0 vs 12.0)", False),
        ("0.15x (15.0 vs 100.0)", True),
        ("1.00x (20.0 vs 20.0)", True),
        ("5.0 ms", True),
        ("0.50x (100.0 vs 200.0)", False),
        ("1090 ms (0 failed)", True),
        ("3.0 ms", True),
        ("0 of 200", True),  # 88 went to the fallback, 2 were refused
        ("1.20x (18.0 vs 15.0)", True),
    ]


def test_goals_are_judged_on_the_median_of_the_repetitions() -> None:
    repeated = [run("dialplan", 100, p99, repetition=n) for n, p99 in enumerate((10.0, 30.0, 12.0), 1)]
    repeated += [run("app", 100, p99, app_cpu=cpu, repetition=n)
                 for n, (p99, cpu) in enumerate(((11.0, 5.0), (9.0, 9.0), (13.0, 5.5)), 1)]

    goals = judge(repeated)

    assert (goals[0].measured, goals[0].met) == ("0.92x at worst (100 calls: 11.0 vs 12.0)", True)
    assert (goals[3].measured, goals[3].met) == ("5.5 ms", True)


def test_calls_neither_completed_sent_to_the_fallback_nor_refused_are_lost() -> None:
    overload = [run("app", 200, 18.0, failed=5, phase="overload", repetition=n,
                    failures={"sent to the fallback": 5 - n, "no agent answered": n}) for n in (1, 2)]

    goals = judge(RUNS + overload)

    assert (goals[-2].measured, goals[-2].met) == ("3 of 400", False)


def test_a_goal_whose_runs_are_missing_is_not_measured() -> None:
    goals = judge([run("dialplan", 100, 10.0)])

    assert [g.met for g in goals] == [None] * 9
    assert {g.measured for g in goals} == {"not measured"}


def test_the_ramp_stops_counting_at_the_first_failing_load() -> None:
    runs = [run("app", 10, 1.0), run("app", 50, 1.0, failed=1), run("app", 100, 1.0)]

    assert most_without_failures(runs, "app") == 10
    assert most_without_failures(runs, "dialplan") == 0


def test_a_limit_is_below_a_failure_in_any_repetition_and_says_if_the_machine_ran_out() -> None:
    runs = [run("app", level, 5.0, repetition=n, busy=0.6) for n in (1, 2) for level in (100, 200)]
    runs += [run("app", 400, 5.0, repetition=1, busy=0.8),
             run("app", 400, 5.0, failed=2, repetition=2, busy=0.97, failures={"no agent answered": 2})]

    found = limit(runs, "app")

    assert (found.level, found.failed_at) == (200, 400)
    assert found.cause() == "at 400: 2 no agent answered; the machine was the limit (CPU 97% busy)"


def test_the_page_names_the_machine_the_goals_the_limits_the_overload_and_every_load() -> None:
    machine = {"cpu": "Xeon", "cores": 2, "memory_gb": 24.0, "system": "Linux 6", "python": "3.11.7",
               "asterisk": "Asterisk 22.10.1", "sipp": "SIPp v3.6.1", "load_average_at_start": [1.0, 0.5, 0.2],
               "other_asterisk_processes": 1}
    second = [run("dialplan", 100, 14.0, repetition=2, asterisk_cpu=22.0),
              run("app", 100, 11.0, app_cpu=6.0, repetition=2, lag=2.0)]

    page = markdown({"started": "2026-11-21T23:00:00+00:00", "minutes": 12.5, "quick": False,
                     "machine": machine, "plan": {"repeat": 2, "max_calls": 200},
                     "overload": {"calls": 200, "why": "twice the app's limit (100)",
                                  "admission": {"max_event_delay": 0.5, "max_loop_lag": 0.2}},
                     "runs": RUNS + second + OVERLOAD}, "benchmarks.png")

    assert "Xeon, 2 cores" in page and "**The machine was shared**: 1 other Asterisk" in page
    assert "| most concurrent calls without failures, app / dialplan | >= 0.9x | 0.50x (100.0 vs 200.0) " \
           "| **missed** |" in page
    assert "| app | 100 | at 200: 1 no agent answered; machine CPU 50% busy |" in page
    assert "| dialplan | 200 | no failure up to the ramp's top: the limit is higher |" in page
    assert "200 concurrent calls, twice the app's limit (100). The app runs with admission control " \
           "(`max_event_delay = 0.5`, `max_loop_lag = 0.2`)" in page
    assert "| app | 1 | 200 | 110 | 88 | 2 | 0 | 18 | 1.38x (13.0 ms) | 50 |" in page
    assert "| dialplan | 1 | 200 | 200 | 0 | 0 | 0 | 14 | 1.17x (12.0 ms) | 50 |" in page
    assert "| 100 | 1.08x | 0.13x | 0.28x | 0.95x |" in page  # medians: 13/12, 13/100, 5.5/20, 20/21
    assert "| ramp | 100 | 0 | 11.0 | 8.0 | 0 | 14.0 / 14.0 / 14.0 |" in page
    assert "| overload | 200 | 0 | 11.0 | 8.0 | 0 | 14.0 / 14.0 / — |" in page
    assert "`POST channels` 6.0, `GET bridges` 5.0" in page
    assert "| app | ramp | 100 | 10 | 0 | 2 | 100/100 | — | 6.5 / 13 / 13 / 13 (11-15) |" in page
    assert "| — / 21.0 (20.0-22.0) |" in page and "| 5.5 (5.0-6.0) / 20.0 (20.0-20.0) |" in page
    assert "| agi | ramp | 200 | 10 | 0 | 1 | 196/200 | 4 no agent answered |" in page


def test_an_overload_at_twice_the_app_rate_limit_is_judged_against_its_p99_at_that_rate() -> None:
    def paced(way: str, rate: int, p99: float, **more: Any) -> dict[str, Any]:
        return {**run(way, rate * 10, p99, **more), "rate": float(rate)}
    rates = [paced("app", 20, 12.0, phase="rate"), paced("app", 40, 2500.0, phase="rate", busy=0.99),
             paced("dialplan", 20, 8.0, phase="rate"), paced("dialplan", 40, 9.0, phase="rate")]
    overload = [paced("app", 40, 15.0, phase="overload", failed=100, failures={"sent to the fallback": 100}),
                paced("dialplan", 40, 3000.0, phase="overload")]

    goals = judge(RUNS + rates + overload)
    page = markdown({"started": "2026-12-07T18:00:00+00:00", "minutes": 50.0, "quick": False,
                     "machine": {"cpu": "EPYC", "cores": 2, "memory_gb": 8.0, "system": "Linux 6",
                                 "python": "3.11.7", "asterisk": "Asterisk 22", "sipp": "SIPp",
                                 "load_average_at_start": [0.1, 0.1, 0.1], "other_asterisk_processes": 0},
                     "plan": {"repeat": 1, "max_calls": 200},
                     "overload": {"calls": 400, "rate": 40.0, "hold_ms": 2000, "by_rate": True,
                                  "why": "twice the app's limit (20 calls started per second)",
                                  "admission": {"max_event_delay": 0.5, "max_loop_lag": 0.2}},
                     "runs": RUNS + rates + overload}, "benchmarks.png")

    assert (goals[-1].measured, goals[-1].met) == ("1.25x (15.0 vs 12.0)", True)
    assert ("| app | 100 | at 200: 1 no agent answered; machine CPU 50% busy | 20 | at 40/s: last digit -> "
            "agent p99 2500 ms (over 1000); the machine was the limit (CPU 99% busy) |") in page
    assert "| dialplan | 200 | no failure up to the ramp's top: the limit is higher | 40 | no failure up to the highest rate: the limit is higher |" in page
    assert "400 calls started at 40 a second, each staying 2 s after the keys, twice the app's limit (20 " in page
    assert "| app | 1 | 400 | 300 | 100 | 0 | 0 | 15 | 1.25x (12.0 ms) | 50 |" in page
