"""The benchmark's own servers and samplers, without Asterisk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from ivr.bench.crm_server import make_app
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
