"""The dialplan gate's part in the app (ivr.stasis.gate): the share of callers it has Asterisk
turn away as admission control refuses and clears, and how it counts them. The
dialplan's side is proven against the real Asterisk (tests/integration/test_metrics.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from ivr.ari.rest import AriError
from ivr.core.admission import Refusal
from ivr.stasis.gate import DialplanGate

REFUSAL = Refusal("max_request_time", "ARI requests take 400 ms (admission.max_request_time = 100 ms)")


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


async def settle(until: Any, rounds: int = 200) -> None:
    for _ in range(rounds):
        if until():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("not settled")


class Measures:
    """Admission control's verdict, as a test sets it."""

    def __init__(self) -> None:
        self.refusing = False
        self.clearing = False

    def refuses(self) -> Refusal | None:
        return REFUSAL if self.refusing else None

    def clears(self) -> bool:
        return self.clearing


def gate(asterisk: Globals, measures: Measures, counted: Counter[str]) -> DialplanGate:
    return DialplanGate(asterisk, asterisk, "ivr", measures.refuses, measures.clears,  # type: ignore[arg-type]
                        counted, probe_every=0.001)


def shares(asterisk: Globals) -> list[int]:
    return [int(value) for name, value in asterisk.written if name == "IVR_SHED_ivr"]


def test_the_share_climbs_while_a_limit_refuses_holds_between_and_falls_to_zero_once_clear() -> None:
    async def scenario() -> tuple[Globals, Counter[str]]:
        asterisk, measures, counted = Globals(), Measures(), Counter({"max_request_time": 1})
        door = gate(asterisk, measures, counted)
        await door.connected()
        running = asyncio.create_task(door.run())
        measures.refusing = True
        door.refused(REFUSAL)
        await settle(lambda: door.share == 75)
        measures.refusing = False  # between the limit and its margin: the share holds
        asterisk.values["IVR_GATED_ivr"] = "5"  # the dialplan turned five callers away meanwhile
        await settle(lambda: counted["max_request_time"] == 6 and asterisk.probes >= 10)
        measures.clearing = True
        await settle(lambda: door.share == 0)
        running.cancel()
        return asterisk, counted

    asterisk, counted = asyncio.run(scenario())
    written = shares(asterisk)
    assert written[:4] == [0, 25, 50, 75] and written[-3:] == [10, 5, 0]
    assert written[4:-3] == list(range(70, 10, -5))
    assert counted == Counter({"max_request_time": 6})


def test_a_failed_request_is_tried_again_so_no_share_is_left_in_asterisk() -> None:
    async def scenario() -> Globals:
        asterisk, measures = Globals(), Measures()
        door = gate(asterisk, measures, Counter())
        running = asyncio.create_task(door.run())
        door.refused(REFUSAL)
        await settle(lambda: asterisk.values.get("IVR_SHED_ivr") == "25")
        asterisk.failing = 5  # the next five requests fail
        measures.clearing = True
        await settle(lambda: asterisk.values["IVR_SHED_ivr"] == "0")
        running.cancel()
        return asterisk

    assert asyncio.run(scenario()).failing == 0


def test_a_share_not_written_on_connecting_is_written_at_the_next_try() -> None:
    async def scenario() -> Globals:
        asterisk = Globals()
        asterisk.values["IVR_SHED_ivr"] = "40"  # left by a run that stopped while shedding
        asterisk.failing = 1
        door = gate(asterisk, Measures(), Counter())
        running = asyncio.create_task(door.run())
        await door.connected()
        await settle(lambda: asterisk.values["IVR_SHED_ivr"] == "0")
        running.cancel()
        return asterisk

    assert asyncio.run(scenario()).values["IVR_SHED_ivr"] == "0"


def test_after_asterisk_restarts_its_count_starts_from_zero_and_is_taken_whole() -> None:
    async def scenario() -> Counter[str]:
        asterisk, measures, counted = Globals(), Measures(), Counter()
        asterisk.values["IVR_GATED_ivr"] = "40"  # an earlier run's, before this app started
        door = gate(asterisk, measures, counted)
        await door.connected()
        running = asyncio.create_task(door.run())
        door.refused(REFUSAL)
        await settle(lambda: asterisk.probes >= 2)
        asterisk.values["IVR_GATED_ivr"] = "3"  # Asterisk restarted and turned three away since
        measures.clearing = True
        await settle(lambda: asterisk.values["IVR_SHED_ivr"] == "0")
        running.cancel()
        return counted

    assert asyncio.run(scenario()) == Counter({"max_request_time": 3})


def test_stopping_lets_every_caller_in_again() -> None:
    async def scenario() -> Globals:
        asterisk = Globals()
        door = gate(asterisk, Measures(), Counter())
        running = asyncio.create_task(door.run())
        door.refused(REFUSAL)
        await settle(lambda: asterisk.values.get("IVR_SHED_ivr") == "25")
        running.cancel()
        await door.shut()
        return asterisk

    assert asyncio.run(scenario()).values["IVR_SHED_ivr"] == "0"
