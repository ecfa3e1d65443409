"""The dialplan gate's part in the app (ivr.stasis.gate): what it asks of Asterisk's globals as
admission control refuses and clears, and how it counts the calls the dialplan passed by. The
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


def gate(asterisk: Globals, clear: list[bool], counted: Counter[str]) -> DialplanGate:
    return DialplanGate(asterisk, "ivr", lambda: clear[0], counted, probe_every=0.001)  # type: ignore[arg-type]


def test_a_refusal_closes_the_gate_until_the_measures_clear_and_the_calls_passed_by_are_counted() -> None:
    async def scenario() -> tuple[Globals, Counter[str], int]:
        asterisk, clear, counted = Globals(), [False], Counter({"max_request_time": 1})
        door = gate(asterisk, clear, counted)
        await door.connected()
        running = asyncio.create_task(door.run())
        door.close(REFUSAL)
        door.close(REFUSAL)  # a second refusal while closed asks nothing more
        await settle(lambda: asterisk.values.get("IVR_CLOSED_ivr") == "1" and asterisk.probes >= 3)
        asterisk.values["IVR_GATED_ivr"] = "5"  # the dialplan passed five callers by meanwhile
        await settle(lambda: counted["max_request_time"] == 6)
        clear[0] = True
        await settle(lambda: asterisk.values["IVR_CLOSED_ivr"] == "0")
        running.cancel()
        return asterisk, counted, door.closings

    asterisk, counted, closings = asyncio.run(scenario())
    assert closings == 1
    assert [value for name, value in asterisk.written if name == "IVR_CLOSED_ivr"] == ["0", "1", "0"]
    assert counted == Counter({"max_request_time": 6})


def test_a_failed_request_is_tried_again_so_the_gate_is_never_left_closed() -> None:
    async def scenario() -> Globals:
        asterisk, clear = Globals(), [False]
        door = gate(asterisk, clear, Counter())
        running = asyncio.create_task(door.run())
        door.close(REFUSAL)
        await settle(lambda: asterisk.values.get("IVR_CLOSED_ivr") == "1")
        asterisk.failing = 3  # the next three requests fail
        clear[0] = True
        await settle(lambda: asterisk.values["IVR_CLOSED_ivr"] == "0")
        running.cancel()
        return asterisk

    assert asyncio.run(scenario()).failing == 0


def test_after_asterisk_restarts_its_count_starts_from_zero_and_is_taken_whole() -> None:
    async def scenario() -> Counter[str]:
        asterisk, clear, counted = Globals(), [False], Counter()
        asterisk.values["IVR_GATED_ivr"] = "40"  # an earlier run's, before this app started
        door = gate(asterisk, clear, counted)
        await door.connected()
        running = asyncio.create_task(door.run())
        door.close(REFUSAL)
        await settle(lambda: asterisk.probes >= 2)
        asterisk.values["IVR_GATED_ivr"] = "3"  # Asterisk restarted and passed three by since
        clear[0] = True
        await settle(lambda: asterisk.values["IVR_CLOSED_ivr"] == "0")
        running.cancel()
        return counted

    assert asyncio.run(scenario()) == Counter({"max_request_time": 3})


def test_stopping_opens_a_closed_gate() -> None:
    async def scenario() -> Globals:
        asterisk = Globals()
        door = gate(asterisk, [False], Counter())
        running = asyncio.create_task(door.run())
        door.close(REFUSAL)
        await settle(lambda: asterisk.values.get("IVR_CLOSED_ivr") == "1")
        running.cancel()
        await door.shut()
        return asterisk

    assert asyncio.run(scenario()).values["IVR_CLOSED_ivr"] == "0"
