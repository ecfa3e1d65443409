"""Each way's limits, on the ramp of concurrent calls and on the call-rate ramp: the highest load
that no repetition failed, and what failed first above it, with whether the machine's CPU was the
limit rather than the way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.bench.plan import RATE_P99_MS, Load, Phase, level_of, ramp_rate, rate_load

Run = dict[str, Any]
SATURATED = 0.95
"""The machine's CPUs this busy over a run: the machine, not the way, ran out."""


@dataclass(frozen=True)
class Limit:
    way: str
    level: int
    """The highest load below the lowest one that failed in any repetition (0: the first): concurrent
    calls on the ramp, calls started per second on the call-rate ramp."""
    failed_at: int | None
    """That lowest failing load; None: the way carried the climb's top without a failure."""
    failures: dict[str, int] = field(default_factory=dict)
    """Why calls failed at ``failed_at``, over its repetitions."""
    machine_busy: float | None = None
    """The machine's busiest share over the runs at ``failed_at``."""
    phase: Phase = "ramp"
    slow_p99_ms: float | None = None
    """On the call-rate ramp: the worst p99 at ``failed_at``, when over RATE_P99_MS."""

    @property
    def machine_saturated(self) -> bool:
        return self.machine_busy is not None and self.machine_busy >= SATURATED

    def cause(self) -> str:
        """
        >>> Limit("app", 400, 800, {"no agent answered": 3}, 0.97).cause()
        'at 800: 3 no agent answered; the machine was the limit (CPU 97% busy)'
        >>> Limit("agi", 100, 200, {"caller not answered (Normal Clearing)": 1}, 0.5).cause()
        'at 200: 1 caller not answered (Normal Clearing); machine CPU 50% busy'
        >>> Limit("dialplan", 2000, None).cause()
        "no failure up to the ramp's top: the limit is higher"
        >>> Limit("app", 40, 60, {}, 0.99, "rate", 2310.0).cause()
        'at 60/s: last digit -> agent p99 2310 ms (over 1000); the machine was the limit (CPU 99% busy)'
        """
        if self.failed_at is None:
            top = "the ramp's top" if self.phase == "ramp" else "the highest rate"
            return f"no failure up to {top}: the limit is higher"
        why = [f"{count} {reason}" for reason, count in self.failures.items()]
        if self.slow_p99_ms is not None:
            why.append(f"last digit -> agent p99 {self.slow_p99_ms:.0f} ms (over {RATE_P99_MS})")
        busy = "" if self.machine_busy is None else (
            f"; the machine was the limit (CPU {self.machine_busy:.0%} busy)" if self.machine_saturated
            else f"; machine CPU {self.machine_busy:.0%} busy")
        return f"at {self.failed_at}{'/s' if self.phase == 'rate' else ''}: {', '.join(why)}{busy}"


def _p99(run: Run) -> float | None:
    latency = run.get("digit_to_agent_answer_ms")
    return None if latency is None else latency["p99"]


def failing(run: Run) -> bool:
    """A climbing run the way did not carry: a call failed, or on the call-rate ramp, the callers
    were served too late.

    >>> failing({"phase": "rate", "failed": 0, "digit_to_agent_answer_ms": {"p99": 1500.0}})
    True
    >>> failing({"phase": "ramp", "failed": 0, "digit_to_agent_answer_ms": {"p99": 1500.0}})
    False
    """
    p99 = _p99(run)
    return bool(run["failed"]) or (run["phase"] == "rate" and p99 is not None and p99 > RATE_P99_MS)


def limit(runs: Sequence[Run], way: str, phase: Phase = "ramp") -> Limit | None:
    """``way``'s limit from its runs of a climbing ``phase`` (every repetition), None if it made none.

    >>> runs = [{"way": "app", "phase": "ramp", "concurrent": c, "failed": f, "machine_busy": b,
    ...          "failures": {"no agent answered": f} if f else {}}
    ...         for c, f, b in ((10, 0, 0.2), (50, 0, 0.4), (100, 2, 0.99), (50, 1, 0.5), (100, 0, 0.7))]
    >>> found = limit(runs, "app")
    >>> found.level, found.failed_at, found.failures, found.machine_busy
    (10, 50, {'no agent answered': 1}, 0.5)
    >>> limit(runs, "agi") is None
    True
    """
    climb = [r for r in runs if r["way"] == way and r["phase"] == phase]
    if not climb:
        return None
    failed_at = min((level_of(r) for r in climb if failing(r)), default=None)
    below = [level_of(r) for r in climb if failed_at is None or level_of(r) < failed_at]
    if failed_at is None:
        return Limit(way, max(below), None, phase=phase)
    at = [r for r in climb if level_of(r) == failed_at]
    failures: Counter[str] = Counter()
    for run in at:
        failures.update(run["failures"])
    busy = [r["machine_busy"] for r in at if r.get("machine_busy") is not None]
    slow = max((p99 for r in at if (p99 := _p99(r)) is not None), default=None)
    return Limit(way, max(below, default=0), failed_at, dict(failures), max(busy, default=None), phase,
                 slow if phase == "rate" and slow is not None and slow > RATE_P99_MS else None)


def overload_limit(runs: Sequence[Run]) -> Limit | None:
    """The app's limit the overload doubles: its call rate's when a rate failed it (the limit a
    rush of callers meets), else its concurrent calls' on the ramp."""
    by_rate = limit(runs, "app", "rate")
    if by_rate is not None and by_rate.failed_at is not None and by_rate.level:
        return by_rate
    return limit(runs, "app")


def overload_level(app: Limit | None, cap: int) -> tuple[Load, str]:
    """Twice the app's limit (calls per second for RATE_SECONDS, or concurrent calls), or twice
    the ramp's top if the app never failed; and why.

    >>> load, why = overload_level(Limit("app", 400, 800), 2000)
    >>> load.concurrent, load.rate, why
    (800, 10.0, "twice the app's limit (400 concurrent calls)")
    >>> load, why = overload_level(Limit("app", 40, 60, phase="rate"), 2000)
    >>> load.concurrent, load.rate, load.hold_ms, why
    (800, 80.0, 2000, "twice the app's limit (40 calls started per second)")
    >>> overload_level(Limit("app", 2000, None), 2000)[0].concurrent
    4000
    """
    if app is None or app.failed_at is None:
        return (Load("overload", 2 * cap, ramp_rate(2 * cap)),
                f"twice the ramp's top ({cap}): the app never failed on the ramp")
    if app.phase == "rate":
        return (rate_load("overload", 2 * app.level),
                f"twice the app's limit ({app.level} calls started per second)")
    calls = 2 * max(app.level, 1)
    return Load("overload", calls, ramp_rate(calls)), f"twice the app's limit ({app.level} concurrent calls)"
