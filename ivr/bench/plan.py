"""What the benchmark runs: loads (concurrent callers, their arrival rate, the CRM's latency and
failure rate), each for the three ways, and when a way stops climbing the ramp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Way = Literal["dialplan", "agi", "app"]
WAYS: tuple[Way, ...] = ("dialplan", "agi", "app")
Phase = Literal["ramp", "slow-crm"]

FULL_LEVELS = (10, 50, 100, 200, 300, 400)
QUICK_LEVELS = (5, 20)
MAX_RATE = 25.0
"""Calls started per second at most: SIPp and Asterisk on 2 cores set up calls at a bounded
pace, and a higher rate would measure call set-up bursts rather than concurrent calls."""


@dataclass(frozen=True)
class Load:
    phase: Phase
    concurrent: int
    crm_latency: float = 0.0
    crm_failure_rate: float = 0.0

    @property
    def rate(self) -> float:
        """Calls started per second: every caller is in within about 5 s, or at MAX_RATE.

        >>> Load("ramp", 10).rate, Load("ramp", 100).rate, Load("ramp", 400).rate
        (2.0, 20.0, 25.0)
        """
        return min(MAX_RATE, max(2.0, self.concurrent / 5))

    @property
    def hold_ms(self) -> int:
        """How long each caller stays after the last key: until the last caller is in, and 3 s
        more, so that all of them are connected at once at the peak.

        >>> Load("ramp", 100).hold_ms, Load("slow-crm", 200, crm_latency=1.0).hold_ms
        (8000, 12000)
        """
        return round((self.concurrent / self.rate + 3 + self.crm_latency) * 1000)


def loads(quick: bool, failure_rate: float = 0.0) -> list[Load]:
    """The ramp with an instant CRM, then the slow-CRM runs; the CRM fails at ``failure_rate``.

    >>> [(load.phase, load.concurrent, load.crm_latency) for load in loads(quick=True)]
    [('ramp', 5, 0.0), ('ramp', 20, 0.0), ('slow-crm', 20, 1.0)]
    >>> [(load.concurrent, load.crm_latency) for load in loads(quick=False) if load.phase == "slow-crm"]
    [(100, 0.2), (200, 1.0)]
    """
    if quick:
        return [*(Load("ramp", level, crm_failure_rate=failure_rate) for level in QUICK_LEVELS),
                Load("slow-crm", 20, 1.0, failure_rate)]
    return [*(Load("ramp", level, crm_failure_rate=failure_rate) for level in FULL_LEVELS),
            Load("slow-crm", 100, 0.2, failure_rate), Load("slow-crm", 200, 1.0, failure_rate)]


def ways_to_run(load: Load, failed_at: Mapping[Way, int]) -> list[Way]:
    """On the ramp, a way that had failures at a lower level stops there; the slow-CRM runs are
    at a load every way is asked to carry.

    >>> ways_to_run(Load("ramp", 200), {"agi": 100})
    ['dialplan', 'app']
    >>> ways_to_run(Load("slow-crm", 200, crm_latency=1.0), {"agi": 100})
    ['dialplan', 'agi', 'app']
    """
    if load.phase != "ramp":
        return list(WAYS)
    return [way for way in WAYS if way not in failed_at or failed_at[way] > load.concurrent]


def first_failures(results: Iterable[tuple[Way, int, int]]) -> dict[Way, int]:
    """(way, concurrent calls, failed calls) of ramp runs -> the lowest level where each way failed.

    >>> first_failures([("app", 10, 0), ("app", 50, 2), ("agi", 100, 1), ("app", 20, 1)])
    {'app': 20, 'agi': 100}
    """
    failed: dict[Way, int] = {}
    for way, concurrent, failures in results:
        if failures and concurrent < failed.get(way, concurrent + 1):
            failed[way] = concurrent
    return failed
