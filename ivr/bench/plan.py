"""What the benchmark runs: loads (concurrent callers, their arrival rate, the CRM's latency and
failure rate), each for the three ways, repeated and interleaved, and when a way stops climbing
the ramp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

Way = Literal["dialplan", "agi", "app"]
WAYS: tuple[Way, ...] = ("dialplan", "agi", "app")
OVERLOAD_WAYS: tuple[Way, ...] = ("dialplan", "app")
Phase = Literal["warm-up", "ramp", "rate", "slow-crm", "overload"]

WARM_UP_CALLS = 5
"""Calls each way takes before anything is measured: the first calls of a process pay once for
connections, caches and first runs of code (the app's first 10 calls cost 3 ms of CPU each more
than the next 10; pure dialplan's first 10 had twice the p99 of later runs)."""
FIRST_LEVELS = (10, 50, 100, 200, 400)
RAMP_STEP = 400
"""Above the first levels, the ramp climbs by this many calls until the cap."""
MAX_CALLS = 2000
QUICK_LEVELS = (5, 20)
REPEAT, QUICK_REPEAT = 3, 1
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
    repetition: int = 1

    @property
    def hold_ms(self) -> int:
        """How long each caller stays after the last key: until the last caller is in, and 3 s
        more, so that all of them are connected at once at the peak.

        >>> Load("ramp", 100, 10.0).hold_ms, Load("slow-crm", 200, 10.0, crm_latency=1.0).hold_ms
        (13000, 24000)
        """
        return round((self.concurrent / self.rate + 3 + self.crm_latency) * 1000)


@dataclass(frozen=True)
class Plan:
    quick: bool
    repeat: int
    cap: int = MAX_CALLS
    """The full ramp's top; the quick one has its own levels."""
    failure_rate: float = 0.0
    """The share of CRM requests that fail."""

    @property
    def top(self) -> int:
        """The ramp's highest level.

        >>> Plan(quick=True, repeat=1).top, Plan(quick=False, repeat=3, cap=1000).top
        (20, 1000)
        """
        return max(QUICK_LEVELS) if self.quick else self.cap


def ramp_rate(concurrent: int) -> float:
    """Every caller in within about 5 s, or at RAMP_RATE.

    >>> ramp_rate(5), ramp_rate(20), ramp_rate(400)
    (2.0, 4.0, 10.0)
    """
    return min(RAMP_RATE, max(2.0, concurrent / 5))


def ramp_top(asked: int, machine_allows: int) -> tuple[int, str]:
    """The ramp's top: as asked, or lower so that the overload, at twice the top, stays within
    the calls the machine can hold (its open files); and why, when lower.

    >>> ramp_top(2000, 10**9)
    (2000, '')
    >>> top, why = ramp_top(2000, 1901)
    >>> top, why[:44]
    (950, 'this machine holds about 1901 calls in Aster')
    """
    if 2 * asked <= machine_allows:
        return asked, ""
    return machine_allows // 2, (f"this machine holds about {machine_allows} calls in Asterisk (its hard "
                                 "limit of open files), and the overload runs twice the top")


def ramp_levels(cap: int) -> list[int]:
    """The first levels, then a step of RAMP_STEP at a time, up to the cap (the last level).

    >>> ramp_levels(2000)
    [10, 50, 100, 200, 400, 800, 1200, 1600, 2000]
    >>> ramp_levels(1000), ramp_levels(150)
    ([10, 50, 100, 200, 400, 800, 1000], [10, 50, 100, 150])
    """
    levels = [level for level in FIRST_LEVELS if level < cap]
    while levels and levels[-1] + RAMP_STEP < cap:
        levels.append(levels[-1] + RAMP_STEP)
    return [*levels, cap]


def warm_up() -> Load:
    """Taken by each way once, before anything is measured, and not reported."""
    return Load("warm-up", WARM_UP_CALLS, ramp_rate(WARM_UP_CALLS))


def repetition(quick: bool, cap: int, failure_rate: float = 0.0) -> list[Load]:
    """One repetition: the ramp with an instant CRM, the call-rate run, then the slow-CRM runs;
    the CRM fails at ``failure_rate``.

    >>> [(load.phase, load.concurrent, load.crm_latency) for load in repetition(True, MAX_CALLS)]
    [('ramp', 5, 0.0), ('ramp', 20, 0.0), ('slow-crm', 20, 1.0)]
    >>> [(load.phase, load.concurrent, load.rate, load.crm_latency)
    ...  for load in repetition(False, MAX_CALLS)][-3:]
    [('rate', 100, 25.0, 0.0), ('slow-crm', 50, 10.0, 0.2), ('slow-crm', 200, 10.0, 1.0)]
    """
    levels = QUICK_LEVELS if quick else ramp_levels(cap)
    ramp = [Load("ramp", level, ramp_rate(level), crm_failure_rate=failure_rate) for level in levels]
    if quick:
        return [*ramp, Load("slow-crm", 20, ramp_rate(20), 1.0, failure_rate)]
    calls, rate = BURST
    return [*ramp, Load("rate", calls, rate, 0.0, failure_rate),
            Load("slow-crm", 50, ramp_rate(50), 0.2, failure_rate),
            Load("slow-crm", 200, ramp_rate(200), 1.0, failure_rate)]


def repeated(loads: Iterable[Load], repeat: int) -> list[Load]:
    """The loads ``repeat`` times over, each pass numbered: a noisy moment of the machine hits
    one pass, not every run of one load.

    >>> [(load.concurrent, load.repetition) for load in repeated([Load("ramp", 5, 2.0),
    ...                                                          Load("ramp", 20, 4.0)], 2)]
    [(5, 1), (20, 1), (5, 2), (20, 2)]
    """
    return [replace(load, repetition=number) for number in range(1, repeat + 1) for load in loads]


def overload(calls: int, repeat: int, failure_rate: float = 0.0) -> list[Load]:
    """The overload's ``calls`` (limits.overload_level: twice the app's limit), ``repeat``
    times, at the ramp's pace.

    >>> [(load.phase, load.concurrent, load.rate, load.repetition) for load in overload(800, 2)]
    [('overload', 800, 10.0, 1), ('overload', 800, 10.0, 2)]
    """
    return repeated([Load("overload", calls, ramp_rate(calls), crm_failure_rate=failure_rate)], repeat)


def ways_to_run(load: Load, failed_at: Mapping[Way, int]) -> list[Way]:
    """On the ramp, a way that had failures at a lower level (of the same repetition) stops
    there; the overload is for the app and pure dialplan; the other runs are at loads every way
    is asked to carry.

    >>> ways_to_run(Load("ramp", 200, 10.0), {"agi": 100})
    ['dialplan', 'app']
    >>> ways_to_run(Load("slow-crm", 200, 10.0, crm_latency=1.0), {"agi": 100})
    ['dialplan', 'agi', 'app']
    >>> ways_to_run(Load("overload", 800, 10.0), {})
    ['dialplan', 'app']
    """
    if load.phase == "overload":
        return list(OVERLOAD_WAYS)
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
