"""What the benchmark runs: loads (concurrent callers, their arrival rate, the CRM's latency and
failure rate), each for the three ways, repeated and interleaved, and when a way stops climbing
the ramp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

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
RATE_FIRST = RATE_STEP = 20
"""The call-rate ramp: calls started per second, from 20 by 20, until each way fails. The ramp of
concurrent calls ends at the machine's open files; this one at its CPU."""
QUICK_RATES = (5, 10)
RATE_SECONDS, QUICK_RATE_SECONDS = 10, 4
"""How long callers keep arriving at each rate."""
RATE_HOLD_MS = 2000
"""How long a caller of the call-rate ramp stays after the last key: briefly, so that the calls in
progress stay few while the rate climbs."""
RATE_CALL_SECONDS = 5
"""About how long a call of the call-rate ramp lasts (the beep, four keys, the agent, the hold):
the rate times this is how many are in progress at once, kept within the ramp's top."""
RATE_P99_MS = 1000
"""A rate fails a way when a call fails or the p99 of last digit -> agent answered passes this:
callers served that late are not served."""


@dataclass(frozen=True)
class Load:
    phase: Phase
    concurrent: int
    rate: float
    """Calls started per second."""
    crm_latency: float = 0.0
    crm_failure_rate: float = 0.0
    repetition: int = 1
    hold_after_keys_ms: int | None = None

    @property
    def hold_ms(self) -> int:
        """How long each caller stays after the last key: as set, or until the last caller is in,
        and 3 s more, so that all of them are connected at once at the peak.

        >>> Load("ramp", 100, 10.0).hold_ms, Load("slow-crm", 200, 10.0, crm_latency=1.0).hold_ms
        (13000, 24000)
        >>> rate_load("rate", 40).hold_ms
        2000
        """
        if self.hold_after_keys_ms is not None:
            return self.hold_after_keys_ms
        return round((self.concurrent / self.rate + 3 + self.crm_latency) * 1000)

    @property
    def level(self) -> int:
        """What a climbing phase climbs: calls started per second on the call-rate ramp,
        concurrent calls elsewhere."""
        return round(self.rate) if self.phase == "rate" else self.concurrent


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
                                 "limit of open files), and an overload at twice the top must fit in it")


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


def level_of(run: dict[str, Any]) -> int:
    """A measured run's Load.level."""
    return round(run["rate"]) if run["phase"] == "rate" else int(run["concurrent"])


def rate_load(phase: Phase, rate: int, seconds: int = RATE_SECONDS, failure_rate: float = 0.0) -> Load:
    """Callers arriving at ``rate`` a second for ``seconds``, each staying RATE_HOLD_MS after the keys.

    >>> rate_load("rate", 60)
    Load(phase='rate', concurrent=600, rate=60.0, crm_latency=0.0, crm_failure_rate=0.0, repetition=1, \
hold_after_keys_ms=2000)
    """
    return Load(phase, rate * seconds, float(rate), crm_failure_rate=failure_rate,
                hold_after_keys_ms=RATE_HOLD_MS)


def rate_levels(top: int) -> list[int]:
    """From RATE_FIRST by RATE_STEP, while the calls in progress at once stay within ``top``.

    >>> rate_levels(729), rate_levels(2000)[-1]
    ([20, 40, 60, 80, 100, 120, 140], 400)
    """
    return list(range(RATE_FIRST, top // RATE_CALL_SECONDS + 1, RATE_STEP))


def warm_up() -> Load:
    """Taken by each way once, before anything is measured, and not reported."""
    return Load("warm-up", WARM_UP_CALLS, ramp_rate(WARM_UP_CALLS))


def repetition(quick: bool, cap: int, failure_rate: float = 0.0) -> list[Load]:
    """One repetition: the ramp of concurrent calls with an instant CRM, the call-rate ramp, then
    the slow-CRM runs; the CRM fails at ``failure_rate``.

    >>> [(load.phase, load.level, load.crm_latency) for load in repetition(True, MAX_CALLS)]
    [('ramp', 5, 0.0), ('ramp', 20, 0.0), ('rate', 5, 0.0), ('rate', 10, 0.0), ('slow-crm', 20, 1.0)]
    >>> [(load.phase, load.concurrent, load.rate, load.crm_latency)
    ...  for load in repetition(False, 729)][-4:]  # doctest: +NORMALIZE_WHITESPACE
    [('rate', 1200, 120.0, 0.0), ('rate', 1400, 140.0, 0.0), ('slow-crm', 50, 10.0, 0.2),
     ('slow-crm', 200, 10.0, 1.0)]
    """
    levels = QUICK_LEVELS if quick else ramp_levels(cap)
    ramp = [Load("ramp", level, ramp_rate(level), crm_failure_rate=failure_rate) for level in levels]
    rates = [rate_load("rate", rate, QUICK_RATE_SECONDS if quick else RATE_SECONDS, failure_rate)
             for rate in (QUICK_RATES if quick else rate_levels(cap))]
    if quick:
        return [*ramp, *rates, Load("slow-crm", 20, ramp_rate(20), 1.0, failure_rate)]
    return [*ramp, *rates, Load("slow-crm", 50, ramp_rate(50), 0.2, failure_rate),
            Load("slow-crm", 200, ramp_rate(200), 1.0, failure_rate)]


def repeated(loads: Iterable[Load], repeat: int) -> list[Load]:
    """The loads ``repeat`` times over, each pass numbered: a noisy moment of the machine hits
    one pass, not every run of one load.

    >>> [(load.concurrent, load.repetition) for load in repeated([Load("ramp", 5, 2.0),
    ...                                                          Load("ramp", 20, 4.0)], 2)]
    [(5, 1), (20, 1), (5, 2), (20, 2)]
    """
    return [replace(load, repetition=number) for number in range(1, repeat + 1) for load in loads]


def overload(load: Load, repeat: int, failure_rate: float = 0.0) -> list[Load]:
    """The overload's ``load`` (limits.overload_level: twice the app's limit), ``repeat`` times.

    >>> [(load.phase, load.concurrent, load.repetition) for load in overload(Load("overload", 800, 10.0), 2)]
    [('overload', 800, 1), ('overload', 800, 2)]
    """
    return repeated([replace(load, crm_failure_rate=failure_rate)], repeat)


CLIMBING: tuple[Phase, ...] = ("ramp", "rate")
"""The phases a way climbs until it fails."""


def ways_to_run(load: Load, failed_at: Mapping[Way, int]) -> list[Way]:
    """On a climbing phase, a way that failed at a lower level (of the same repetition) stops
    there; the overload is for the app and pure dialplan; the other runs are at loads every way
    is asked to carry.

    >>> ways_to_run(Load("ramp", 200, 10.0), {"agi": 100})
    ['dialplan', 'app']
    >>> ways_to_run(rate_load("rate", 60), {"agi": 40, "app": 80})
    ['dialplan', 'app']
    >>> ways_to_run(Load("slow-crm", 200, 10.0, crm_latency=1.0), {"agi": 100})
    ['dialplan', 'agi', 'app']
    >>> ways_to_run(Load("overload", 800, 10.0), {})
    ['dialplan', 'app']
    """
    if load.phase == "overload":
        return list(OVERLOAD_WAYS)
    if load.phase not in CLIMBING:
        return list(WAYS)
    return [way for way in WAYS if way not in failed_at or failed_at[way] > load.level]


def first_failures(results: Iterable[tuple[Way, int, bool]]) -> dict[Way, int]:
    """(way, level, whether it failed) of a climbing phase's runs -> the lowest level where each
    way failed.

    >>> first_failures([("app", 10, False), ("app", 50, True), ("agi", 100, True), ("app", 20, True)])
    {'app': 20, 'agi': 100}
    """
    failed: dict[Way, int] = {}
    for way, level, failures in results:
        if failures and level < failed.get(way, level + 1):
            failed[way] = level
    return failed
