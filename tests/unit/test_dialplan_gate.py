"""The dialplan gate's part in the app (ivr.stasis.gate): the share of callers it has Asterisk
turn away as admission control refuses and clears and as callers arrive beyond the call rate,
and how it counts them. The
dialplan's side is proven against the real Asterisk (tests/integration/test_metrics.py)."""

from __future__ import annotations

import asyncio
from collections import Counter

from ivr.ari.rest import AriError
from ivr.core.admission import Refusal
from ivr.stasis.gate import DialplanGate

REFUSAL = Refusal("max_request_time", "ARI requests take 400 ms (admission.max_request_time = 100 ms)")
RATE_REFUSAL = Refusal("max_call_rate", "more than 40 calls a second (admission.max_call_rate = 40)")


class Globals:
    """Asterisk's global variables as ARI reaches them; ``failing`` requests raise as a 500 would."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.written: list[tuple[str, str]] = []
        self.probes = 0
        self.failing = 0

    def _maybe_fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise AriError(500, "POST", "/asterisk/variable", "Internal Server Error")

    async def set_global(self, name: str, value: str) -> None:
        self._maybe_fail()
        self.values[name] = value
        self.written.append((name, value))

    async def get_global(self, name: str) -> str:
        self._maybe_fail()
        return self.values.get(name, "")

    async def user_event(self, app: str, name: str) -> None:
        self._maybe_fail()
        self.probes += 1


class Measures:
    """Admission control's verdict, as a test sets it."""

    def __init__(self) -> None:
        self.refusing = False
        self.clearing = False

    def refuses(self) -> Refusal | None:
        return REFUSAL if self.refusing else None

    def clears(self) -> bool:
        return self.clearing


class Clock:
    """Monotonic time as a test moves it: each step of the gate 0.5 s on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def gate(asterisk: Globals, measures: Measures, max_call_rate: float = 0.0) -> DialplanGate:
    return DialplanGate(asterisk, asterisk, "ivr", measures.refuses, measures.clears,  # type: ignore[arg-type]
                        max_call_rate, step=0.5, clock=Clock())


async def step(door: DialplanGate, arriving: int = 0, refused: bool = False) -> None:
    """One step of the gate with ``arriving`` callers reaching the app in it, the last one
    turned away if ``refused`` (by the measures, or by the rate if the gate has one); its probe
    done."""
    refusal = RATE_REFUSAL if door.shedding.max_call_rate else REFUSAL
    for n in range(arriving):
        door.arrive(refusal if refused and n == arriving - 1 else None)
    door.clock.now += door.step  # type: ignore[attr-defined]
    await door.steer()
    await asyncio.sleep(0)


def shares(asterisk: Globals) -> list[int]:
    return [int(value) for name, value in asterisk.written if name == "IVR_SHED_ivr"]


def test_the_share_climbs_while_a_limit_refuses_holds_between_and_falls_to_zero_once_clear() -> None:
    async def scenario() -> tuple[Globals, DialplanGate]:
        asterisk, measures = Globals(), Measures()
        door = gate(asterisk, measures)
        await door.connected()
        measures.refusing = True
        await step(door)  # at a limit, no caller turned away yet: none shed
        await step(door, arriving=1, refused=True)
        for _ in range(2):
            await step(door)
        measures.refusing = False  # between the limit and its margin: the share holds
        asterisk.values["IVR_GATED_ivr"] = "5"  # the dialplan turned five callers away meanwhile
        for _ in range(3):
            await step(door)
        measures.clearing = True
        while door.share:
            await step(door)
        return asterisk, door

    asterisk, door = asyncio.run(scenario())
    assert shares(asterisk) == [0, 25, 50, 75, *range(70, -5, -5)]
    assert door.turned_away == Counter({"max_request_time": 5})
    assert asterisk.probes == 3 + 3 + 14  # a user event at each step after which the measures shed


def test_callers_arriving_beyond_the_call_rate_are_turned_away_in_the_dialplan_in_proportion() -> None:
    async def scenario() -> tuple[Globals, DialplanGate]:
        asterisk = Globals()
        door = gate(asterisk, Measures(), max_call_rate=40)
        await door.connected()
        await step(door, arriving=20)  # 40 a second: all of them let in
        await step(door, arriving=2)  # 4 a second: none turned away
        await step(door, arriving=30)  # a rush, but the app had room for all: none turned away
        await step(door, arriving=40, refused=True)  # 80 a second: half turned away from now
        asterisk.values["IVR_GATED_ivr"] = "20"
        await step(door, arriving=20)  # the half let in: still 80 a second arriving
        await step(door, arriving=15)  # 60 a second arriving
        await step(door, arriving=10)  # 30 a second arriving: the rush is over
        await step(door)
        return asterisk, door

    asterisk, door = asyncio.run(scenario())
    assert shares(asterisk) == [0, 50, 34, 0]
    assert door.turned_away == Counter({"max_call_rate": 20})
    assert asterisk.probes == 0  # the measures never asked: no user event to keep them fresh


def test_a_failed_write_is_tried_again_so_no_share_is_left_in_asterisk() -> None:
    async def scenario() -> Globals:
        asterisk, measures = Globals(), Measures()
        door = gate(asterisk, measures)
        measures.refusing = True
        await step(door, arriving=1, refused=True)
        measures.refusing, measures.clearing = False, True
        asterisk.failing = 5  # the next five requests fail: the write and the probe
        for _ in range(8):
            await step(door)
        return asterisk

    asterisk = asyncio.run(scenario())
    assert asterisk.values["IVR_SHED_ivr"] == "0" and asterisk.failing == 0


def test_a_share_not_written_on_connecting_is_written_at_the_next_step() -> None:
    async def scenario() -> Globals:
        asterisk = Globals()
        asterisk.values["IVR_SHED_ivr"] = "40"  # left by a run that stopped while shedding
        asterisk.failing = 1
        door = gate(asterisk, Measures())
        await door.connected()
        assert asterisk.values["IVR_SHED_ivr"] == "40"
        await step(door)
        return asterisk

    assert asyncio.run(scenario()).values["IVR_SHED_ivr"] == "0"


def test_after_asterisk_restarts_its_count_starts_from_zero_and_is_taken_whole() -> None:
    async def scenario() -> DialplanGate:
        asterisk, measures = Globals(), Measures()
        asterisk.values["IVR_GATED_ivr"] = "40"  # an earlier run's, before this app started
        door = gate(asterisk, measures)
        await door.connected()
        measures.refusing = True
        await step(door, arriving=1, refused=True)
        asterisk.values["IVR_GATED_ivr"] = "3"  # Asterisk restarted and turned three away since
        measures.refusing, measures.clearing = False, True
        while door.share:
            await step(door)
        return door

    assert asyncio.run(scenario()).turned_away == Counter({"max_request_time": 3})


def test_stopping_lets_every_caller_in_again() -> None:
    async def scenario() -> Globals:
        asterisk, measures = Globals(), Measures()
        door = gate(asterisk, measures)
        measures.refusing = True
        await step(door, arriving=1, refused=True)
        assert asterisk.values["IVR_SHED_ivr"] == "25"
        await door.shut()
        return asterisk

    assert asyncio.run(scenario()).values["IVR_SHED_ivr"] == "0"


def test_the_rate_is_counted_over_the_step_as_long_as_it_took() -> None:
    async def scenario() -> Globals:
        asterisk = Globals()
        door = gate(asterisk, Measures(), max_call_rate=40)
        door.clock.now += 1.0  # type: ignore[attr-defined]  # a step held up by a slow write
        for n in range(80):
            door.arrive(RATE_REFUSAL if n == 79 else None)
        await door.steer()
        return asterisk

    assert shares(asyncio.run(scenario())) == [50]  # 80 a second, not 80 in a step of 0.5 s
