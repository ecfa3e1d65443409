"""What the benchmark runs: loads (concurrent callers, their arrival rate, the CRM's latency and
failure rate), each for the three ways, and when a way stops climbing the ramp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Way = Literal["dialplan", "agi", "app"]
WAYS: tuple[Way, ...] = ("dialplan", "agi", "app")
Phase = Literal["warm-up", "ramp", "rate", "slow-crm"]

WARM_UP_CALLS = 5
"""Calls each way takes before anything is measured: the first calls of a process pay once for
connections, caches and first runs of code (the app's first 10 calls cost 3 ms of CPU each more
than the next 10; pure dialplan's first 10 had twice the p99 of later runs)."""
FULL_LEVELS = (10, 50, 100, 200, 400)
QUICK_LEVELS = (5, 20)
RAMP_RATE = 10.0
"""Calls started per second at most on the ramp of concurrent calls: a busy contact center's
pace, so that the ramp measures how many calls each way holds at once."""
BURST = (100, 25.0)
"""The call-rate run: 100 calls started at 25 per second, to see each way set calls up fast."""


@dataclass(frozen=True)
class Load:
    phase: Phase
    concurrent: int
    rate: float
    """Calls started per second."""
    crm_latency: float = 0.0
    crm_failure_rate: float = 0.0

    @property
    def hold_ms(self) -> int:
        """How long each caller stays after the last key: until the last caller is in, and 3 s
        more, so that all of them are connected at once at the peak.

        >>> Load("ramp", 100, 10.0).hold_ms, Load("slow-crm", 200, 10.0, crm_latency=1.0).hold_ms
        (13000, 24000)
        """
        return round((self.concurrent / self.rate + 3 + self.crm_latency) * 1000)


def ramp_rate(concurrent: int) -> float:
    """Every caller in within about 5 s, or at RAMP_RATE.

    >>> ramp_rate(5), ramp_rate(20), ramp_rate(400)
    (2.0, 4.0, 10.0)
    """
    return min(RAMP_RATE, max(2.0, concurrent / 5))


def loads(quick: bool, failure_rate: float = 0.0) -> list[Load]:
    """A warm-up (not reported), the ramp with an instant CRM, the call-rate run, then the
    slow-CRM runs; the CRM fails at ``failure_rate``.

    >>> [(load.phase, load.concurrent, load.crm_latency) for load in loads(quick=True)]
    [('warm-up', 5, 0.0), ('ramp', 5, 0.0), ('ramp', 20, 0.0), ('slow-crm', 20, 1.0)]
    >>> [(load.phase, load.concurrent, load.rate, load.crm_latency) for load in loads(quick=False)][-3:]
    [('rate', 100, 25.0, 0.0), ('slow-crm', 50, 10.0, 0.2), ('slow-crm', 200, 10.0, 1.0)]
    """
    levels = QUICK_LEVELS if quick else FULL_LEVELS
    warm_up = Load("warm-up", WARM_UP_CALLS, ramp_rate(WARM_UP_CALLS))
    ramp = [Load("ramp", level, ramp_rate(level), crm_failure_rate=failure_rate) for level in levels]
    if quick:
        return [warm_up, *ramp, Load("slow-crm", 20, ramp_rate(20), 1.0, failure_rate)]
    calls, rate = BURST
    return [warm_up, *ramp, Load("rate", calls, rate, 0.0, failure_rate),
            Load("slow-crm", 50, ramp_rate(50), 0.2, failure_rate),
            Load("slow-crm", 200, ramp_rate(200), 1.0, failure_rate)]


def ways_to_run(load: Load, failed_at: Mapping[Way, int]) -> list[Way]:
    """On the ramp, a way that had failures at a lower level stops there; the other runs are at
    loads every way is asked to carry.

    >>> ways_to_run(Load("ramp", 200, 10.0), {"agi": 100})
    ['dialplan', 'app']
    >>> ways_to_run(Load("slow-crm", 200, 10.0, crm_latency=1.0), {"agi": 100})
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
