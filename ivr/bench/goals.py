"""The issue's goals, judged on one benchmark run: each as a ratio of figures measured in the
same run, or against the CRM latency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Run = dict[str, Any]
LOAD_FOR_LATENCY = 100
SLOW_CRM_LATENCY = 1.0
LAG_LIMIT_MS = 50.0


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None
    """None: not measured (a way stopped below the load the goal needs)."""


def find(runs: Sequence[Run], way: str, phase: str, concurrent: int, latency: float = 0.0) -> Run | None:
    return next((r for r in runs if (r["way"], r["phase"], r["concurrent"], r["crm_latency_s"])
                 == (way, phase, concurrent, latency)), None)


def most_without_failures(runs: Sequence[Run], way: str) -> int:
    """The highest ramp load of ``way`` below its first failing one that had no failure.

    >>> most_without_failures([{"way": "app", "phase": "ramp", "concurrent": c, "failed": f}
    ...                        for c, f in ((10, 0), (50, 0), (100, 3), (200, 0))], "app")
    50
    """
    ramp = sorted((r["concurrent"], r["failed"]) for r in runs if r["way"] == way and r["phase"] == "ramp")
    clean = 0
    for concurrent, failed in ramp:
        if failed:
            break
        clean = concurrent
    return clean


def _p99(run: Run | None, key: str = "digit_to_agent_answer_ms") -> float | None:
    return run[key]["p99"] if run is not None and run.get(key) else None


def _ratio_goal(name: str, limit: float, ours: float | None, theirs: float | None,
                below: bool = True) -> Goal:
    if ours is None or theirs is None or not theirs:
        return Goal(name, f"{'<=' if below else '>='} {limit}x", "not measured", None)
    ratio = ours / theirs
    return Goal(name, f"{'<=' if below else '>='} {limit}x", f"{ratio:.2f}x ({ours:.1f} vs {theirs:.1f})",
                ratio <= limit if below else ratio >= limit)


def latency_load(runs: Sequence[Run]) -> int:
    """100 calls, or in a shorter run the highest ramp load all three ways made.

    >>> latency_load([{"way": w, "phase": "ramp", "concurrent": c} for w in ("app", "dialplan", "agi")
    ...               for c in (5, 20)])
    20
    """
    common = set.intersection(*({r["concurrent"] for r in runs if r["way"] == way and r["phase"] == "ramp"}
                                for way in ("app", "dialplan", "agi")))
    return LOAD_FOR_LATENCY if LOAD_FOR_LATENCY in common or not common else max(common)


def judge(runs: Sequence[Run]) -> list[Goal]:
    load = latency_load(runs)
    app_at, dialplan_at, agi_at = (find(runs, way, "ramp", load) for way in ("app", "dialplan", "agi"))
    best = {way: most_without_failures(runs, way) for way in ("app", "dialplan")}
    top = find(runs, "app", "ramp", best["app"]) if best["app"] else None
    goals = [
        _ratio_goal(f"last digit -> agent answered, p99 at {load} calls, app / dialplan (ms)",
                    2.0, _p99(app_at), _p99(dialplan_at)),
        _ratio_goal(f"last digit -> agent answered, p99 at {load} calls, app / AGI (ms)",
                    0.5, _p99(app_at), _p99(agi_at)),
        _cpu_goal(runs),
        _ratio_goal("most concurrent calls without failures, app / dialplan", 0.9, best["app"] or None,
                    best["dialplan"] or None, below=False),
        _slow_crm_goal(max((r for r in runs if (r["way"], r["phase"], r["crm_latency_s"])
                            == ("app", "slow-crm", SLOW_CRM_LATENCY)), key=lambda r: r["concurrent"],
                           default=None)),
    ]
    lag = _p99(top, "loop_lag_ms")
    goals.append(Goal(f"event-loop lag p99 at the app's highest load without failures ({best['app']})",
                      f"< {LAG_LIMIT_MS:.0f} ms", "not measured" if lag is None else f"{lag:.1f} ms",
                      None if lag is None else lag < LAG_LIMIT_MS))
    return goals


def _cpu_goal(runs: Sequence[Run]) -> Goal:
    """The worst ratio over the app's ramp runs without failures."""
    ratios = [(r["cpu_ms_per_call"]["app"] / r["cpu_ms_per_call"]["asterisk"], r["concurrent"]) for r in runs
              if r["way"] == "app" and r["phase"] == "ramp" and not r["failed"]
              and r["cpu_ms_per_call"]["asterisk"] > 0]
    name = "CPU per call, app process / Asterisk (worst run without failures)"
    if not ratios:
        return Goal(name, "<= 0.5x", "not measured", None)
    worst, at = max(ratios)
    return Goal(name, "<= 0.5x", f"{worst:.2f}x (at {at} calls)", worst <= 0.5)


def _slow_crm_goal(run: Run | None) -> Goal:
    """The app's run with the slowest CRM at the highest load: p99 within the CRM's latency + 100 ms."""
    calls = f"{run['concurrent']} calls" if run is not None else "not run"
    name = f"last digit -> agent answered, p99, CRM taking {SLOW_CRM_LATENCY:.0f} s, {calls}, app"
    limit = SLOW_CRM_LATENCY * 1000 + 100
    p99 = _p99(run)
    if run is None or p99 is None:
        return Goal(name, f"<= {limit:.0f} ms", "not measured", None)
    return Goal(name, f"<= {limit:.0f} ms", f"{p99:.0f} ms ({run['failed']} failed)",
                p99 <= limit and not run["failed"])
