"""The benchmark's own servers and samplers, without Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from ivr.bench.crm_server import make_app
from ivr.bench.fallback import call_outcomes
from ivr.bench.fallback import caller as fallback_caller
from ivr.bench.limits import failing as failing_run
from ivr.bench.limits import limit, overload_level, overload_limit
from ivr.bench.plan import Load, first_failures, level_of, overload, repeated, repetition, ways_to_run
from ivr.bench.sipp_scenarios import caller
from ivr.loop_lag import read_lags, sample


async def ask(latency: float, failure_rate: float, body: dict[str, str]) -> httpx.Response:
    runner = web.AppRunner(make_app(latency, failure_rate))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient() as client:
            return await client.post(f"http://127.0.0.1:{port}/identify", data=body)
    finally:
        await runner.cleanup()


async def test_the_crm_names_campaign_1_as_omnileads_does() -> None:
    answer = await ask(0.0, 0.0, {"idContact": "1357"})

    assert answer.json() == {"status": "ok", "destination": "1,1"}


async def test_the_crm_fails_at_its_failure_rate_and_refuses_a_request_without_id() -> None:
    assert (await ask(0.0, 1.0, {"idContact": "1357"})).status_code == 503
    assert (await ask(0.0, 0.0, {"other": "1"})).status_code == 400


async def test_the_lag_sampler_writes_what_read_lags_reads(tmp_path: Path) -> None:
    path = tmp_path / "lag.txt"
    task = asyncio.create_task(sample(path, interval=0.001, flush_every=2))
    await asyncio.sleep(0.05)  # several samples: each one's timer is due well before this one's
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    lines = path.read_text().splitlines()
    first, last = float(lines[0].split()[0]), float(lines[-1].split()[0])
    assert len(lines) >= 2
    assert len(read_lags(path.read_text(), first, last)) == len(lines)
    assert all(lag >= 0 for lag in read_lags(path.read_text(), first, last))


def test_a_caller_refuses_keys_asterisk_would_drop() -> None:
    with pytest.raises(ValueError, match="each must be higher"):
        caller(hold_ms=1000, keys="1337")


def test_each_repetition_runs_the_whole_plan_before_the_next() -> None:
    plan = repeated(repetition(quick=False, cap=1000), 3)

    ramp = [(load.repetition, load.concurrent) for load in plan if load.phase == "ramp"]
    assert ramp[:8] == [(1, 10), (1, 50), (1, 100), (1, 200), (1, 400), (1, 800), (1, 1000), (2, 10)]
    assert [load.repetition for load in plan].count(3) == len(plan) // 3
    assert all(load.phase != "warm-up" for load in plan)


def test_a_way_stops_climbing_at_its_first_failure_and_the_overload_is_twice_the_app_limit() -> None:
    runs = [{"way": "app", "phase": "ramp", "concurrent": c, "failed": f, "failures": {"no agent answered": f},
             "machine_busy": 0.5} for c, f in ((400, 0), (800, 0), (1200, 7))]
    failed = first_failures(("app", r["concurrent"], r["failed"] > 0) for r in runs)

    assert ways_to_run(Load("ramp", 1600, 10.0), failed) == ["dialplan", "agi"]
    load, why = overload_level(limit(runs, "app"), cap=2000)
    assert (load.concurrent, why) == (1600, "twice the app's limit (800 concurrent calls)")
    assert [each.concurrent for each in overload(load, repeat=2)] == [1600, 1600]


def test_the_call_rate_ramp_stops_a_way_at_a_failure_or_a_late_p99_and_the_overload_doubles_that_rate() -> None:
    def rate_run(rate: int, failed: int, p99: float) -> dict[str, object]:
        return {"way": "app", "phase": "rate", "concurrent": rate * 10, "rate": float(rate), "failed": failed,
                "failures": {"no agent answered": failed} if failed else {}, "machine_busy": 0.99,
                "digit_to_agent_answer_ms": {"p99": p99}}
    late = [rate_run(20, 0, 30.0), rate_run(40, 0, 80.0), rate_run(60, 0, 2400.0)]
    failing = [rate_run(20, 0, 30.0), rate_run(40, 3, 90.0)]

    assert first_failures(("app", level_of(r), failing_run(r)) for r in late) == {"app": 60}
    found = limit(late, "app", "rate")
    assert (found.level, found.failed_at, found.slow_p99_ms) == (40, 60, 2400.0)
    assert limit(failing, "app", "rate").cause() == ("at 40/s: 3 no agent answered; "
                                                     "the machine was the limit (CPU 99% busy)")
    assert overload_limit(late + [{**r, "phase": "ramp"} for r in failing[:1]]) == found
    load, _ = overload_level(found, cap=729)
    assert (load.phase, load.rate, load.concurrent, load.hold_ms) == ("overload", 80.0, 800, 2000)


def test_the_benchmark_caller_ends_cleanly_when_asterisk_hangs_up_first_or_refuses_it_as_busy() -> None:
    text = fallback_caller(hold_ms=1000)

    # SIPp looks for an optional="global" step before the current one, and refuses an optional
    # <recv> right before a <send>: the BYE's step and the busy one come just before the answer.
    assert ('  <recv request="BYE" optional="global" next="hung-up"/>\n'
            '  <recv response="486" optional="true" next="busy"/>\n  <recv response="200" rtd="true"/>') in text
    assert text.index('<recv response="200" crlf="true" next="done"/>') < text.index('<label id="busy"/>') \
        < text.rindex("ACK sip:") < text.index('<nop next="done"/>') < text.index('<label id="hung-up"/>') \
        < text.index("SIP/2.0 200 OK")
    assert text.rstrip().endswith('<label id="done"/>\n</scenario>')


def test_a_caller_hung_up_in_the_fallback_is_told_apart_from_a_lost_one() -> None:
    def events(uid: str, context: str) -> list[dict[str, str]]:
        return [{"Event": "Newchannel", "Uniqueid": uid, "Linkedid": uid, "Timestamp": "1.0",
                 "Channel": f"PJSIP/loopback-{uid}"},
                {"Event": "Newstate", "Uniqueid": uid, "ChannelState": "6", "Timestamp": "1.1"},
                {"Event": "Hangup", "Uniqueid": uid, "Context": context, "Timestamp": "5.0",
                 "Channel": f"PJSIP/loopback-{uid}"}]

    outcomes = [t.outcome for t in call_outcomes(events("1", "ivr-fallback") + events("2", "ivr-stasis"), 4)]

    assert outcomes == ["sent to the fallback", "0 of 4 digits received"]
