"""The repetitions of one load, one way, taken together: the median of each figure, with the
spread (lowest and highest) of the key ones. Goals, tables and the plot read these medians."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

Run = dict[str, Any]
Key = tuple[str, str, int, float]
SPREAD: dict[str, Callable[[Run], float | None]] = {
    "digit_to_agent_p99": lambda r: (r["digit_to_agent_answer_ms"] or {}).get("p99"),
    "cpu_app": lambda r: r["cpu_ms_per_call"].get("app"),
    "cpu_asterisk": lambda r: r["cpu_ms_per_call"].get("asterisk"),
    "failed": lambda r: r["failed"],
}
"""The figures whose spread the report gives, as the repetitions' (lowest, highest)."""


def key(run: Run) -> Key:
    return run["way"], run["phase"], run["concurrent"], run["crm_latency_s"]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values measured, None if none was.

    >>> median([3.0, None, 1.0, 2.0]), median([None])
    (2.0, None)
    """
    measured = [v for v in values if v is not None]
    return statistics.median(measured) if measured else None


def spread(values: Sequence[float | None]) -> tuple[float, float] | None:
    """
    >>> spread([3.0, None, 1.0]), spread([])
    ((1.0, 3.0), None)
    """
    measured = [v for v in values if v is not None]
    return (min(measured), max(measured)) if measured else None


def _median_of(values: Sequence[Any]) -> Any:
    """The median of numbers, key by key for dicts (nested too, over those that have the key);
    other values are the first's.

    >>> _median_of([{"p99": 3.0, "by": {"GET": 1}}, None, {"p99": 1.0, "by": {"GET": 3, "POST": 2}}])
    {'p99': 2.0, 'by': {'GET': 2, 'POST': 2}}
    >>> _median_of([2, 3, 7]), _median_of(["ramp", "ramp"]), _median_of([None, None])
    (3, 'ramp', None)
    """
    present = [v for v in values if v is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        names = dict.fromkeys(name for value in present for name in value)
        return {name: _median_of([v.get(name) for v in present]) for name in names}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    middle = statistics.median(present)
    return round(middle) if isinstance(first, int) else middle


def combined(runs: Sequence[Run]) -> Run:
    """One load's repetitions as one run: the median of each figure, except ``failed`` and
    ``failures``, which add up (a failure in any repetition counts), and the ``spread`` of the
    key figures.

    >>> runs = [{"way": "app", "phase": "ramp", "concurrent": 10, "crm_latency_s": 0.0, "repetition": n,
    ...          "completed": 10 - failed, "failed": failed,
    ...          "failures": {"no agent answered": failed} if failed else {},
    ...          "digit_to_agent_answer_ms": {"p99": p99}, "cpu_ms_per_call": {"asterisk": cpu}}
    ...         for n, failed, p99, cpu in ((1, 0, 10.0, 30.0), (2, 1, 14.0, 20.0), (3, 0, 12.0, 25.0))]
    >>> run = combined(runs)
    >>> run["digit_to_agent_answer_ms"], run["cpu_ms_per_call"], run["completed"], run["failed"]
    ({'p99': 12.0}, {'asterisk': 25.0}, 10, 1)
    >>> run["failures"], run["repetitions"], run["spread"]["digit_to_agent_p99"], run["spread"]["cpu_app"]
    ({'no agent answered': 1}, 3, (10.0, 14.0), None)
    >>> "repetition" in run
    False
    """
    merged: Run = {name: _median_of([r.get(name) for r in runs]) for name in runs[0] if name != "repetition"}
    failures: Counter[str] = Counter()
    for run in runs:
        failures.update(run["failures"])
    merged.update(failed=sum(r["failed"] for r in runs), failures=dict(failures), repetitions=len(runs),
                  spread={name: spread([figure(r) for r in runs]) for name, figure in SPREAD.items()})
    return merged


def by_load(runs: Sequence[Run]) -> list[Run]:
    """The runs of each (way, phase, load, CRM latency), combined, in the order first run."""
    groups: dict[Key, list[Run]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return [combined(group) for group in groups.values()]
