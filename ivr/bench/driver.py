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
from ivr.bench.app_metrics import Samples, per_call, samples, scrape
from ivr.bench.call_timings import CallTiming
from ivr.bench.fallback import call_outcomes, caller
from ivr.bench.limits import failing, overload_level, overload_limit
from ivr.bench.machine import describe
from ivr.bench.percentiles import summary
from ivr.bench.plan import (
    WAYS,
    Load,
    Plan,
    Way,
    first_failures,
    level_of,
    overload,
    repeated,
    repetition,
    warm_up,
    ways_to_run,
)
from ivr.bench.process_stats import Process, busy_share, read_machine_ticks
from ivr.bench.sipp_scenarios import CUSTOMER_ID
from ivr.bench.stage import (
    APP_DID,
    MAX_EVENT_DELAY,
    MAX_LOOP_LAG,
    MAX_REQUEST_TIME,
    Stage,
    free_media_port,
    free_port,
)
from ivr.loop_lag import read_lags
from ivr.pbx import control

log = logging.getLogger("ivr.bench")

SERVICES: dict[Way, str] = {"app": APP_DID, "dialplan": "bench-dialplan", "agi": "bench-agi"}
CALL_RATE_SHARE = 0.9
"""The overload's ``admission.max_call_rate``: this share of the rate the app was measured to
carry. The callers turned away still cost the machine their SIP and their dialplan: measured on
2 cores at twice the limit with the whole limit let in (60 of 120 calls a second), the admitted
calls' p99 was 107 ms against 20 at 60 a second alone; with 54, 30 and 70 ms (17 alone)."""


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


def _run_name(way: Way, load: Load) -> str:
    """Names the run's files: its events and SIPp's errors."""
    return f"{way}-{load.phase}-{load.concurrent}-{load.repetition}"


def _sipp(stage: Stage, way: Way, load: Load, script: Path) -> list[str]:
    window = load.concurrent / load.rate
    return ["sipp", f"127.0.0.1:{stage.sip_port}", "-sf", str(script), "-s", SERVICES[way],
            "-m", str(load.concurrent), "-l", str(load.concurrent), "-r", str(round(load.rate * 10)),
            "-rp", "10000", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
            "-mi", "127.0.0.1", "-mp", str(free_media_port()),
            "-timeout", f"{round(window + load.hold_ms / 1000 + 40)}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(stage.folder / f"sipp-{_run_name(way, load)}-errors.log")]


async def _app_metrics(stage: Stage) -> Samples:
    return samples(await asyncio.to_thread(scrape, stage.metrics_url, stage.metrics_token))


async def run_load(stage: Stage, ami: AmiEvents, way: Way, load: Load) -> dict[str, Any]:
    stage.use_crm(load.crm_latency, load.crm_failure_rate)
    script = stage.folder / f"caller-{load.hold_ms}.xml"
    script.write_text(caller(load.hold_ms))
    asterisk = stage.asterisk()
    app = {"app": Process(stage.app.pid), "agi": Process(stage.spawner.pid)}.get(way)
    watched = {"asterisk": asterisk, **({"app": app} if app is not None else {})}
    metrics_before = await _app_metrics(stage) if way == "app" else None
    ami.take()
    cpu_before = {name: p.cpu() for name, p in watched.items()}
    machine_before = read_machine_ticks()
    sampler = Sampler(watched)
    sampling = asyncio.create_task(sampler.run())
    started = time.time()
    sipp = await asyncio.create_subprocess_exec(*_sipp(stage, way, load, script),
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL, cwd=stage.folder)
    sipp_exit = await sipp.wait()
    machine_busy = busy_share(machine_before, read_machine_ticks())
    leftover = await stage.settle()
    ended = time.time()
    sampling.cancel()
    cpu = {name: p.cpu() - cpu_before[name] for name, p in watched.items()}
    events = ami.take()
    (stage.folder / f"events-{_run_name(way, load)}.json").write_text(json.dumps(events))
    result = _result(way, load, call_outcomes(events, len(CUSTOMER_ID)), sipp_exit, ended - started)
    result["repetition"] = load.repetition
    result["machine_busy"] = round(machine_busy, 3)
    result["channels_left_over"] = leftover
    result["cpu_ms_per_call"] = {name: 1000 * seconds / load.concurrent for name, seconds in cpu.items()}
    result["mb_per_concurrent_call"] = {name: sampler.growth_mb(name, load.concurrent) for name in watched}
    lags = read_lags(stage.lag_file.read_text(), started, ended) if way == "app" else []
    result["loop_lag_ms"] = summary([lag * 1000 for lag in lags])
    result["ami_events_per_call"] = len(events) / load.concurrent
    result["app_per_call"] = (None if metrics_before is None else
                              per_call(metrics_before, await _app_metrics(stage), load.concurrent))
    log.info("%s %s x%d (CRM %.1f s, repetition %d): %d/%d completed, last digit -> agent p99 %s ms, "
             "machine CPU %.0f%% busy", load.phase, way, load.concurrent, load.crm_latency, load.repetition,
             result["completed"], load.concurrent, (result["digit_to_agent_answer_ms"] or {}).get("p99"),
             machine_busy * 100)
    return result


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


async def _run_ways(stage: Stage, ami: AmiEvents, load: Load, results: list[dict[str, Any]]) -> None:
    """Each way still climbing at this load, in turn; a failure stops a way's ramp only within its
    repetition."""
    failed = first_failures((r["way"], level_of(r), failing(r)) for r in results
                            if r["phase"] == load.phase and r["repetition"] == load.repetition)
    for way in ways_to_run(load, failed):
        results.append(await run_load(stage, ami, way, load))


async def _overload(stage: Stage, ami: AmiEvents, plan: Plan,
                    results: list[dict[str, Any]]) -> dict[str, Any]:
    """Twice the app's limit found by the climbs (limits.overload_limit), for the app (with
    admission control) and pure dialplan. The quick run's app could carry that: it turns away
    calls beyond half the overload's."""
    basis = overload_limit(results)
    load, why = overload_level(basis, plan.top)
    admission: dict[str, float] = {"max_event_delay": MAX_EVENT_DELAY, "max_loop_lag": MAX_LOOP_LAG,
                                   "max_request_time": MAX_REQUEST_TIME}
    if plan.quick:
        admission = {"max_calls": load.concurrent // 2}
        await asyncio.to_thread(stage.restart_app, "app-overload",
                                {"IVR_ADMISSION__MAX_CALLS": str(load.concurrent // 2)})
    elif basis is not None and basis.phase == "rate":
        # As docs/metrics.md tells an admin to set it from this report.
        admission["max_call_rate"] = rate = round(basis.level * CALL_RATE_SHARE, 1)
        await asyncio.to_thread(stage.restart_app, "app-overload",
                                {"IVR_ADMISSION__MAX_CALL_RATE": str(rate)})
    for each in overload(load, plan.repeat, plan.failure_rate):
        await _run_ways(stage, ami, each, results)
    return {"calls": load.concurrent, "rate": load.rate, "hold_ms": load.hold_ms, "why": why,
            "by_rate": basis is not None and basis.phase == "rate", "admission": admission}


async def run_all(stage: Stage, plan: Plan) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs of every repetition (the warm-up left out), and how the overload was set."""
    ami = await stage.ami()
    results: list[dict[str, Any]] = []
    try:
        for way in WAYS:
            await run_load(stage, ami, way, warm_up())
        for load in repeated(repetition(plan.quick, plan.cap, plan.failure_rate), plan.repeat):
            await _run_ways(stage, ami, load, results)
        overloaded = await _overload(stage, ami, plan, results)
    finally:
        await ami.close()
    return results, overloaded


def benchmark(folder: Path, plan: Plan) -> dict[str, Any]:
    """Everything measured, with the machine it ran on; the stage's logs stay in ``folder``."""
    # The overload may reach twice the ramp's top, each caller with an agent of its own.
    stage = Stage(folder, agents=2 * plan.top)
    started = time.time()
    try:
        stage.start()
        _, version = control.cli(stage.settings, "core show version")
        machine = describe(version, stage.asterisk().pid)
        runs, overloaded = asyncio.run(run_all(stage, plan))
    finally:
        stage.close()
    return {"started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "minutes": round((time.time() - started) / 60, 1), "quick": plan.quick, "machine": machine,
            "plan": {"repeat": plan.repeat, "max_calls": plan.top}, "overload": overloaded, "runs": runs}
