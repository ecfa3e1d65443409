"""Percentiles the way the report gives them: nearest rank, on the values measured."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The smallest value with at least ``q`` percent of the values at or below it.

    >>> percentile([4, 1, 3, 2], 50), percentile([4, 1, 3, 2], 99), percentile([7], 1)
    (2, 4, 7)
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """p50, p95, p99 and max, or None when nothing was measured."""
    if not values:
        return None
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values), "count": len(values)}
