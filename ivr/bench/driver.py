"""One benchmark run: every load of the plan, for each way still climbing, measured from
Asterisk's events, /proc and the app's loop-lag samples."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.bench.ami_events import AmiEvents
from ivr.bench.call_timings import CallTiming, call_timings
from ivr.bench.machine import describe
from ivr.bench.percentiles import summary
from ivr.bench.plan import Load, Way, first_failures, loads, ways_to_run
from ivr.bench.process_stats import Process
from ivr.bench.sipp_scenarios import CUSTOMER_ID, caller
from ivr.bench.stage import APP_DID, Stage, free_media_port, free_port
from ivr.loop_lag import read_lags
from ivr.pbx import control

log = logging.getLogger("ivr.bench")

SERVICES: dict[Way, str] = {"app": APP_DID, "dialplan": "bench-dialplan", "agi": "bench-agi"}
SETTLE_TIMEOUT = 20.0


class Sampler:
    """Peak resident memory of some processes while a run lasts."""

    def __init__(self, processes: dict[str, Process]) -> None:
        self.processes = processes
        self.base = {name: p.rss() for name, p in processes.items()}
        self.peak = dict(self.base)

    async def run(self, interval: float = 0.5) -> None:
        while True:
            for name, process in self.processes.items():
                self.peak[name] = max(self.peak[name], process.rss())
            await asyncio.sleep(interval)

    def growth_mb(self, name: str, calls: int) -> float | None:
        if name not in self.base or not calls:
            return None
        return (self.peak[name] - self.base[name]) / calls / 2**20


def _ms(values: list[float | None]) -> dict[str, float] | None:
    return summary([v * 1000 for v in values if v is not None])


async def run_load(stage: Stage, ami: AmiEvents, way: Way, load: Load) -> dict[str, Any]:
    stage.use_crm(load.crm_latency, load.crm_failure_rate)
    script = stage.folder / f"caller-{way}-{load.concurrent}.xml"
    script.write_text(caller(load.hold_ms))
    window = load.concurrent / load.rate
    command = ["sipp", f"127.0.0.1:{stage.sip_port}", "-sf", str(script), "-s", SERVICES[way],
               "-m", str(load.concurrent), "-l", str(load.concurrent), "-r", str(round(load.rate * 10)),
               "-rp", "10000", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
               "-mi", "127.0.0.1", "-mp", str(free_media_port()),
               "-timeout", f"{round(window + load.hold_ms / 1000 + 40)}s", "-timeout_error", "-nostdin",
               "-trace_err", "-error_file", str(stage.folder / f"sipp-{way}-{load.concurrent}-errors.log")]
    asterisk = stage.asterisk()
    app = {"app": Process(stage.app.pid), "agi": Process(stage.spawner.pid)}.get(way)
    watched = {"asterisk": asterisk, **({"app": app} if app is not None else {})}
    ami.take()
    cpu_before = {name: p.cpu() for name, p in watched.items()}
    sampler = Sampler(watched)
    sampling = asyncio.create_task(sampler.run())
    started = time.time()
    sipp = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL, cwd=stage.folder)
    sipp_exit = await sipp.wait()
    leftover = await _settle(stage)
    ended = time.time()
    sampling.cancel()
    cpu = {name: p.cpu() - cpu_before[name] for name, p in watched.items()}
    events = ami.take()
    (stage.folder / f"events-{way}-{load.phase}-{load.concurrent}.json").write_text(json.dumps(events))
    timings = call_timings(events, len(CUSTOMER_ID))
    result = _result(way, load, timings, sipp_exit, ended - started)
    result["channels_left_over"] = leftover
    result["cpu_ms_per_call"] = {name: 1000 * seconds / load.concurrent for name, seconds in cpu.items()}
    result["mb_per_concurrent_call"] = {name: sampler.growth_mb(name, load.concurrent) for name in watched}
    lags = read_lags(stage.lag_file.read_text(), started, ended) if way == "app" else []
    result["loop_lag_ms"] = summary([lag * 1000 for lag in lags])
    log.info("%s %s x%d (CRM %.1f s): %d/%d completed, last digit -> agent p99 %s ms", load.phase, way,
             load.concurrent, load.crm_latency, result["completed"], load.concurrent,
             (result["digit_to_agent_answer_ms"] or {}).get("p99"))
    return result


async def _settle(stage: Stage) -> int:
    """Until Asterisk has no channel left (hanging up what is left after SETTLE_TIMEOUT), and a
    moment for the last events to arrive; returns how many channels were left."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while left := await asyncio.to_thread(stage.active_channels):
        if time.monotonic() > deadline:
            await asyncio.to_thread(stage.hang_up_all)
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    return left


def _result(way: Way, load: Load, timings: list[CallTiming], sipp_exit: int,
            seconds: float) -> dict[str, Any]:
    reasons = Counter(t.outcome for t in timings if t.outcome != "completed")
    if load.concurrent > len(timings):
        reasons["never reached Asterisk"] = load.concurrent - len(timings)
    completed = [t for t in timings if t.outcome == "completed"]
    return {"way": way, "phase": load.phase, "concurrent": load.concurrent, "rate": load.rate,
            "crm_latency_s": load.crm_latency, "crm_failure_rate": load.crm_failure_rate,
            "attempted": load.concurrent, "completed": len(completed),
            "failed": load.concurrent - len(completed), "failures": dict(reasons), "sipp_exit": sipp_exit,
            "seconds": round(seconds, 1),
            "digit_to_agent_answer_ms": _ms([t.digit_to_agent_answer for t in completed]),
            "digit_to_bridge_ms": _ms([t.digit_to_bridge for t in completed]),
            "invite_to_answer_ms": _ms([t.invite_to_answer for t in timings])}


async def run_all(stage: Stage, quick: bool, failure_rate: float) -> list[dict[str, Any]]:
    ami = await stage.ami()
    results: list[dict[str, Any]] = []
    try:
        for load in loads(quick, failure_rate):
            failed = first_failures((r["way"], r["concurrent"], r["failed"]) for r in results
                                    if r["phase"] == "ramp")
            for way in ways_to_run(load, failed):
                result = await run_load(stage, ami, way, load)
                if load.phase != "warm-up":
                    results.append(result)
    finally:
        await ami.close()
    return results


def benchmark(folder: Path, quick: bool, failure_rate: float) -> dict[str, Any]:
    """Everything measured, with the machine it ran on; the stage's logs stay in ``folder``."""
    most = max(load.concurrent for load in loads(quick, failure_rate))
    stage = Stage(folder, agents=most)
    started = time.time()
    try:
        stage.start()
        _, version = control.cli(stage.settings, "core show version")
        machine = describe(version, stage.asterisk().pid)
        runs = asyncio.run(run_all(stage, quick, failure_rate))
    finally:
        stage.close()
    return {"started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "minutes": round((time.time() - started) / 60, 1), "quick": quick, "machine": machine,
            "runs": runs}
