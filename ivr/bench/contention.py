"""`ivr bench contention`: more callers than agents. The callers wait and are offered to the
agents as they free up, either in the app's campaign (`ivr run`) or in Asterisk's Queue() with
the same agents, on the same Asterisk, the two ways interleaved run after run."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ivr.bench.ami_events import AmiEvents
from ivr.bench.contention_report import summarize
from ivr.bench.contention_stage import APP_DID, QUEUE_EXTEN, ContentionStage
from ivr.bench.contention_timings import Caller, calls, free_to_ring
from ivr.bench.machine import describe
from ivr.bench.percentiles import summary
from ivr.bench.process_stats import Process
from ivr.bench.sipp_scenarios import waiting_caller
from ivr.bench.stage import free_media_port, free_port
from ivr.pbx import control

Way = Literal["app", "app_queue"]
WAYS: tuple[Way, ...] = ("app", "app_queue")
SERVICES: dict[Way, str] = {"app": APP_DID, "app_queue": QUEUE_EXTEN}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ContentionPlan:
    callers: int = 200
    arrival_seconds: float = 20.0
    """The callers come evenly over this long."""
    agents: int = 20
    ring_ms: int = 2000
    """Each agent's phone rings this long before it answers."""
    talk_ms: int = 5000
    """Then the agent talks this long and hangs up."""
    repeat: int = 3

    @property
    def rate(self) -> float:
        return self.callers / self.arrival_seconds

    def longest_seconds(self) -> float:
        """How long a run may take: the arrivals, then every caller served one agent round
        after another, with a second per round to spare, and a minute more."""
        rounds = math.ceil(self.callers / self.agents)
        return self.arrival_seconds + rounds * ((self.ring_ms + self.talk_ms) / 1000 + 1) + 60


QUICK = ContentionPlan(callers=30, arrival_seconds=5.0, agents=5, ring_ms=1000, talk_ms=2000, repeat=1)


def measure_contention(plan: ContentionPlan, work: Path, progress: Progress) -> dict[str, Any]:
    """Every repetition runs app, then app_queue, so that a busy moment of the machine falls on
    both; the PBX, the phones and `ivr run` stay up throughout."""
    stage = ContentionStage(work, plan.agents, plan.ring_ms, plan.talk_ms)
    started = time.time()
    try:
        stage.start()
        _, version = control.cli(stage.settings, "core show version")
        machine = describe(version, stage.asterisk().pid)
        runs = asyncio.run(_all_runs(stage, plan, progress))
    finally:
        stage.close()
    return {"started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "minutes": round((time.time() - started) / 60, 1), "machine": machine, "plan": asdict(plan),
            "runs": runs, "summary": summarize(runs)}


async def _all_runs(stage: ContentionStage, plan: ContentionPlan, progress: Progress) -> list[dict[str, Any]]:
    ami = await stage.ami()
    runs = []
    try:
        for repeat in range(1, plan.repeat + 1):
            for way in WAYS:
                run = await _one_run(stage, ami, plan, way, repeat)
                ring = run["free_to_ring_ms"] or {}
                progress(f"repeat {repeat} {way}: {run['completed']}/{plan.callers} completed, agent free -> "
                         f"ringing p50 {ring.get('p50', 0):.0f} ms p99 {ring.get('p99', 0):.0f} ms "
                         f"({ring.get('count', 0)} offers), in {run['seconds']:.0f} s")
                runs.append(run)
    finally:
        await ami.close()
    return runs


async def _one_run(stage: ContentionStage, ami: AmiEvents, plan: ContentionPlan, way: Way,
                   repeat: int) -> dict[str, Any]:
    script = stage.folder / "caller.xml"
    script.write_text(waiting_caller())
    command = ["sipp", f"127.0.0.1:{stage.sip_port}", "-sf", str(script), "-s", SERVICES[way],
               "-m", str(plan.callers), "-l", str(plan.callers), "-r", str(round(plan.rate * 10)),
               "-rp", "10000", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
               "-mi", "127.0.0.1", "-mp", str(free_media_port()),
               "-timeout", f"{round(plan.longest_seconds())}s", "-timeout_error", "-nostdin",
               "-trace_err", "-error_file", str(stage.folder / f"callers-{way}-{repeat}-errors.log")]
    watched = {"asterisk": stage.asterisk(), **({"app": Process(stage.app.pid)} if way == "app" else {})}
    ami.take()
    cpu_before = {name: process.cpu() for name, process in watched.items()}
    started = time.time()
    sipp = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL, cwd=stage.folder)
    sipp_exit = await sipp.wait()
    left_over = await stage.settle()
    seconds = time.time() - started
    cpu = {name: process.cpu() - cpu_before[name] for name, process in watched.items()}
    events = ami.take()
    (stage.folder / f"events-{way}-{repeat}.json").write_text(json.dumps(events))
    callers, legs = calls(events)
    return {"way": way, "repeat": repeat, **outcomes(callers, plan.callers), "offers": len(legs),
            "free_to_ring_ms": _ms(free_to_ring(callers, legs)),
            "wait_ms": _ms([c.answered - c.entered for c in callers
                            if c.outcome == "completed" and c.answered is not None]),
            "cpu_ms_per_offer": {name: 1000 * used / len(legs) if legs else None
                                 for name, used in cpu.items()},
            "sipp_exit": sipp_exit, "channels_left_over": left_over, "seconds": round(seconds, 1)}


def outcomes(callers: list[Caller], expected: int) -> dict[str, Any]:
    """Completed and failed callers, and why they failed; callers that never reached Asterisk
    count as failed.

    >>> outcomes([Caller(0.0, 1.0, 2.0, "completed"), Caller(0.0, None, None, "never offered")], 3)
    {'completed': 1, 'failed': 2, 'failures': {'never offered': 1, 'never reached Asterisk': 1}}
    """
    reasons = Counter(c.outcome for c in callers if c.outcome != "completed")
    if expected > len(callers):
        reasons["never reached Asterisk"] = expected - len(callers)
    completed = sum(1 for c in callers if c.outcome == "completed")
    return {"completed": completed, "failed": expected - completed, "failures": dict(reasons)}


def _ms(seconds: list[float]) -> dict[str, float] | None:
    return summary([value * 1000 for value in seconds])
