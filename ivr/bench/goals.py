"""The issue's goals, judged on one benchmark run: on the median of each load's repetitions,
each as a ratio of figures measured in the same run, against the CRM latency, or at the
overload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ivr.bench.fallback import breakdown
from ivr.bench.limits import limit, overload_limit
from ivr.bench.plan import level_of
from ivr.bench.repetitions import by_load

Run = dict[str, Any]
LOAD_FOR_LATENCY = 100
LATENCY_UP_TO = 400
SLOW_CRM_LATENCY = 1.0
LAG_LIMIT_MS = 50.0
APP_CPU_MS = 6.0
OVERLOAD_LATENCY = 1.5
"""The admitted calls' p99 at the overload, at most this many times the p99 at the limit."""


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


def find_level(runs: Sequence[Run], way: str, phase: str, level: int) -> Run | None:
    """``way``'s run of ``phase`` at ``level`` (plan.Load.level), the CRM instant."""
    return next((r for r in runs if (r["way"], r["phase"], r["crm_latency_s"]) == (way, phase, 0.0)
                 and level_of(r) == level), None)


def most_without_failures(runs: Sequence[Run], way: str) -> int:
    """The highest ramp load of ``way`` that no repetition failed, below its first failing one.

    >>> most_without_failures([{"way": "app", "phase": "ramp", "concurrent": c, "failed": f, "failures": {}}
    ...                        for c, f in ((10, 0), (50, 0), (100, 3), (200, 0))], "app")
    50
    """
    found = limit(runs, way)
    return 0 if found is None else found.level


def _p99(run: Run | None, key: str = "digit_to_agent_answer_ms") -> float | None:
    return run[key]["p99"] if run is not None and run.get(key) else None


def _cpu(run: Run | None, process: str) -> float | None:
    return None if run is None else run["cpu_ms_per_call"].get(process)


def _ratio_goal(name: str, limit: float, ours: float | None, theirs: float | None,
                below: bool = True, unit: str = "") -> Goal:
    target = f"{'<=' if below else '>='} {limit}x"
    if ours is None or theirs is None or not theirs:
        return Goal(name, target, "not measured", None)
    ratio = ours / theirs
    return Goal(name, target, f"{ratio:.2f}x ({ours:.1f} vs {theirs:.1f}{unit})",
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
    """The goals, from every repetition's runs."""
    medians = by_load(runs)
    load = latency_load(medians)
    app_at, dialplan_at, agi_at = (find(medians, way, "ramp", load) for way in ("app", "dialplan", "agi"))
    best = {way: most_without_failures(medians, way) for way in ("app", "dialplan")}
    top = find(medians, "app", "ramp", best["app"]) if best["app"] else None
    goals = [
        _latency_everywhere(medians),
        _ratio_goal(f"last digit -> agent answered, p99 at {load} calls, app / AGI (ms)",
                    0.5, _p99(app_at), _p99(agi_at)),
        _ratio_goal(f"Asterisk's CPU per call at {load} calls, app / dialplan (ms)", 1.15,
                    _cpu(app_at, "asterisk"), _cpu(dialplan_at, "asterisk")),
        _app_cpu_goal(app_at, load),
        _ratio_goal("most concurrent calls without failures, app / dialplan", 0.9, best["app"] or None,
                    best["dialplan"] or None, below=False),
        _slow_crm_goal(max((r for r in medians if (r["way"], r["phase"], r["crm_latency_s"])
                            == ("app", "slow-crm", SLOW_CRM_LATENCY)), key=lambda r: r["concurrent"],
                           default=None)),
    ]
    lag = _p99(top, "loop_lag_ms")
    goals.append(Goal(f"event-loop lag p99 at the app's highest load without failures ({best['app']})",
                      f"< {LAG_LIMIT_MS:.0f} ms", "not measured" if lag is None else f"{lag:.1f} ms",
                      None if lag is None else lag < LAG_LIMIT_MS))
    overloaded = [r for r in runs if (r["way"], r["phase"]) == ("app", "overload")]
    admitted = find(medians, "app", "overload", _overload_calls(overloaded))
    basis = overload_limit(runs)
    at_limit = None if basis is None else find_level(medians, "app", basis.phase, basis.level)
    return [*goals, _lost_goal(overloaded),
            _ratio_goal("admitted calls' p99 at the overload / the app's p99 at its limit (ms)",
                        OVERLOAD_LATENCY, _p99(admitted), _p99(at_limit))]


def _overload_calls(overloaded: Sequence[Run]) -> int:
    return overloaded[0]["concurrent"] if overloaded else 0


def _latency_everywhere(medians: Sequence[Run]) -> Goal:
    """The app's p99 against pure dialplan's at each ramp load up to LATENCY_UP_TO: the worst."""
    name = f"last digit -> agent answered, p99, app / dialplan, every load up to {LATENCY_UP_TO} (ms)"
    ratios = [(ours / theirs, level, ours, theirs) for level in sorted({r["concurrent"] for r in medians
                                                                          if r["phase"] == "ramp"})
              if level <= LATENCY_UP_TO
              and (ours := _p99(find(medians, "app", "ramp", level))) is not None
              and (theirs := _p99(find(medians, "dialplan", "ramp", level)))]
    if not ratios:
        return Goal(name, "<= 1.0x", "not measured", None)
    worst, level, ours, theirs = max(ratios)
    return Goal(name, "<= 1.0x", f"{worst:.2f}x at worst ({level} calls: {ours:.1f} vs {theirs:.1f})",
                worst <= 1.0)


def _app_cpu_goal(run: Run | None, load: int) -> Goal:
    name = f"the app's CPU per call at {load} calls"
    cpu = _cpu(run, "app")
    if cpu is None:
        return Goal(name, f"<= {APP_CPU_MS:.0f} ms", "not measured", None)
    return Goal(name, f"<= {APP_CPU_MS:.0f} ms", f"{cpu:.1f} ms", cpu <= APP_CPU_MS)


def _lost_goal(overloaded: Sequence[Run]) -> Goal:
    """Every call of the app's overload runs completed, went to the fallback or was refused."""
    name = f"calls lost at the overload ({_overload_calls(overloaded)} calls), app, all repetitions"
    if not overloaded:
        return Goal(name, "0", "not measured", None)
    lost = sum(breakdown(r)["lost"] for r in overloaded)
    return Goal(name, "0", f"{lost} of {sum(r['attempted'] for r in overloaded)}", lost == 0)


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
