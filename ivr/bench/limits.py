"""Each way's limit on the ramp: the highest load that no repetition failed, and what failed
first above it, with whether the machine's CPU was the limit rather than the way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Run = dict[str, Any]
SATURATED = 0.95
"""The machine's CPUs this busy over a run: the machine, not the way, ran out."""


@dataclass(frozen=True)
class Limit:
    way: str
    calls: int
    """The highest ramp load below the lowest one that failed in any repetition (0: the first)."""
    failed_at: int | None
    """That lowest failing load; None: the way carried the ramp's top without a failure."""
    failures: dict[str, int] = field(default_factory=dict)
    """Why calls failed at ``failed_at``, over its repetitions."""
    machine_busy: float | None = None
    """The machine's busiest share over the runs at ``failed_at``."""

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
        """
        if self.failed_at is None:
            return "no failure up to the ramp's top: the limit is higher"
        why = ", ".join(f"{count} {reason}" for reason, count in self.failures.items())
        busy = "" if self.machine_busy is None else (
            f"; the machine was the limit (CPU {self.machine_busy:.0%} busy)" if self.machine_saturated
            else f"; machine CPU {self.machine_busy:.0%} busy")
        return f"at {self.failed_at}: {why}{busy}"


def limit(runs: Sequence[Run], way: str) -> Limit | None:
    """``way``'s limit from its ramp runs (every repetition), None if it made none.

    >>> runs = [{"way": "app", "phase": "ramp", "concurrent": c, "failed": f, "machine_busy": b,
    ...          "failures": {"no agent answered": f} if f else {}}
    ...         for c, f, b in ((10, 0, 0.2), (50, 0, 0.4), (100, 2, 0.99), (50, 1, 0.5), (100, 0, 0.7))]
    >>> found = limit(runs, "app")
    >>> found.calls, found.failed_at, found.failures, found.machine_busy
    (10, 50, {'no agent answered': 1}, 0.5)
    >>> limit(runs, "agi") is None
    True
    """
    ramp = [r for r in runs if r["way"] == way and r["phase"] == "ramp"]
    if not ramp:
        return None
    failed_at = min((r["concurrent"] for r in ramp if r["failed"]), default=None)
    below = [r["concurrent"] for r in ramp if failed_at is None or r["concurrent"] < failed_at]
    if failed_at is None:
        return Limit(way, max(below), None)
    at = [r for r in ramp if r["concurrent"] == failed_at]
    failures: Counter[str] = Counter()
    for run in at:
        failures.update(run["failures"])
    busy = [r["machine_busy"] for r in at if r.get("machine_busy") is not None]
    return Limit(way, max(below, default=0), failed_at, dict(failures), max(busy, default=None))


def overload_level(app: Limit | None, cap: int) -> tuple[int, str]:
    """Twice the app's limit, or twice the ramp's top if the app never failed; and why.

    >>> overload_level(Limit("app", 400, 800), 2000)
    (800, "twice the app's limit (400)")
    >>> overload_level(Limit("app", 2000, None), 2000)
    (4000, "twice the ramp's top (2000): the app never failed on the ramp")
    """
    if app is None or app.failed_at is None:
        return 2 * cap, f"twice the ramp's top ({cap}): the app never failed on the ramp"
    return 2 * max(app.calls, 1), f"twice the app's limit ({app.calls})"
