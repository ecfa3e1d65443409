"""`ivr bench claims`: how many agents' claims PostgreSQL grants per second to 1, 2, 4... app
nodes, each a process of its own (ivr.bench.claims_node), on a fresh database of the run's own;
with, in the same run, one connection's round trips (SELECT 1) and commits as a baseline, and
the CPU that PostgreSQL's processes and the nodes' spent."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from ivr.bench.claims_node import NodeJob, NodeResult, Schedule, run_node
from ivr.bench.machine import basics
from ivr.bench.own_database import DEFAULT_SERVER, backend_pids, own_database, server_settings
from ivr.bench.percentiles import summary
from ivr.bench.process_stats import busy_share, cpu_between, cpu_of, read_machine_ticks
from ivr.store.engine import open_engine
from ivr.store.migrations import upgrade
from ivr.store.schema import agent_claims

Progress = Callable[[str], None]
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class ClaimsPlan:
    nodes: tuple[int, ...] = (1, 2, 4)
    seconds: float = 15.0
    """The measured window of each run."""
    warm_up: float = 3.0
    """Before it: connections opened, caches filled, first runs of code."""
    concurrency: int = 8
    """Offers in flight at once on each node."""
    calls: int = 2500
    """Calls in progress each node holds meanwhile: at 4 nodes, the 10,000 calls the sizing is for."""
    repeat: int = 3
    baseline_seconds: float = 5.0
    server: str = DEFAULT_SERVER


def measure_claims(plan: ClaimsPlan, progress: Progress) -> dict[str, Any]:
    """Every repeat: the baseline, then each number of nodes, so that a busy moment of the
    machine falls on all of them."""
    started, machine = datetime.now(UTC), basics()
    runs: list[dict[str, Any]] = []
    for repeat in range(1, plan.repeat + 1):
        baseline = asyncio.run(_baseline(plan))
        progress(f"repeat {repeat}: one connection: {baseline['select1_per_s']:.0f} SELECT 1/s, "
                 f"{baseline['commits_per_s']:.0f} commits/s")
        runs.append({"repeat": repeat, **baseline})
        for nodes in plan.nodes:
            run = asyncio.run(_claims(plan, nodes))
            progress(f"repeat {repeat}: {nodes} node(s): {run['claims_per_s']:.0f} claims/s, claim p50 "
                     f"{run['claim_ms']['p50']:.1f} ms p99 {run['claim_ms']['p99']:.1f} ms, "
                     f"machine {run['machine_busy']:.0%} busy")
            runs.append({"repeat": repeat, **run})
    return {"started": started.isoformat(timespec="seconds"), "machine": machine, "plan": asdict(plan),
            "postgresql": asyncio.run(server_settings(plan.server)), "runs": runs}


async def _baseline(plan: ClaimsPlan) -> dict[str, Any]:
    """One connection, one request at a time, through SQLAlchemy and asyncpg as the app: a
    round trip (SELECT 1), then a commit of a one-row update (a write waiting for the disk)."""
    async with own_database(plan.server) as url:
        engine = open_engine(url)
        try:
            await upgrade(engine)
            async with engine.begin() as connection:
                await connection.execute(agent_claims.insert().values(agent="baseline"))
            async with engine.connect() as connection:
                select1, commits = await _one_connection(connection, plan.baseline_seconds)
        finally:
            await engine.dispose()
    return {"kind": "baseline", "select1_per_s": len(select1) / plan.baseline_seconds,
            "select1_ms": summary(select1), "commits_per_s": len(commits) / plan.baseline_seconds,
            "commit_ms": summary(commits)}


async def _one_connection(connection: AsyncConnection, seconds: float) -> tuple[list[float], list[float]]:
    # Autobegun: one BEGIN, then round trips alone.
    select1 = await _repeatedly(lambda: connection.execute(text("SELECT 1")), seconds)
    await connection.rollback()
    baseline = update(agent_claims).where(agent_claims.c.agent == "baseline")

    async def commit() -> None:
        async with connection.begin():
            await connection.execute(baseline.values(expires_at=datetime.now(UTC)))
    return select1, await _repeatedly(commit, seconds)


async def _repeatedly(work: Callable[[], Any], seconds: float) -> list[float]:
    """``work`` again and again for ``seconds``: each one's time in ms."""
    times = []
    end = time.perf_counter() + seconds
    while (began := time.perf_counter()) < end:
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return times


async def _claims(plan: ClaimsPlan, nodes: int) -> dict[str, Any]:
    async with own_database(plan.server) as url:
        engine = open_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        jobs = [NodeJob(url, index, plan.concurrency, plan.calls) for index in range(nodes)]
        return await _run_nodes(plan, jobs, make_url(url).database or "")


async def _run_nodes(plan: ClaimsPlan, jobs: Sequence[NodeJob], database: str) -> dict[str, Any]:
    # spawn, not fork: a forked child would share this process's event loop and connections.
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for job in jobs:
        ours, theirs = context.Pipe()
        process = context.Process(target=run_node, args=(job, theirs), name=job.node, daemon=True)
        process.start()
        pipes.append(ours)
        processes.append(process)
    try:
        for pipe, job in zip(pipes, jobs, strict=True):
            await _expect_ready(pipe, job)
        start = time.time() + 0.2
        schedule = Schedule(start, start + plan.warm_up, start + plan.warm_up + plan.seconds)
        for pipe in pipes:
            pipe.send(schedule)
        await asyncio.sleep(schedule.measure_from - time.time())
        node_pids = [p.pid for p in processes if p.pid is not None]
        server_pids = await backend_pids(plan.server, database)
        before = (cpu_of(server_pids), cpu_of(node_pids), read_machine_ticks(), os.getloadavg())
        await asyncio.sleep(schedule.end - time.time())
        after = (cpu_of(await backend_pids(plan.server, database)), cpu_of(node_pids), read_machine_ticks())
        results: list[NodeResult] = [await asyncio.to_thread(_receive, pipe) for pipe in pipes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return _run_figures(plan, len(jobs), results, {
        "postgresql": cpu_between(before[0], after[0]), "nodes": cpu_between(before[1], after[1]),
        "machine_busy": busy_share(before[2], after[2]), "load_average": before[3]})


async def _expect_ready(pipe: Any, job: NodeJob) -> None:
    if not await asyncio.to_thread(pipe.poll, READY_TIMEOUT):
        raise RuntimeError(f"node {job.node} not ready after {READY_TIMEOUT:g} s")
    said = pipe.recv()
    if said != "ready":
        raise RuntimeError(f"node {job.node}: {said!r}")


def _receive(pipe: Any) -> NodeResult:
    if not pipe.poll(READY_TIMEOUT):
        raise RuntimeError("a node sent no result")
    result: NodeResult = pipe.recv()
    return result


def _run_figures(plan: ClaimsPlan, nodes: int, results: Sequence[NodeResult],
                 cpu: dict[str, Any]) -> dict[str, Any]:
    granted = sum(r.granted for r in results)
    claim_ms = [ms for r in results for ms in r.claim_ms]
    offer_ms = [ms for r in results for ms in r.offer_ms]
    per_claim = 1000 / granted if granted else 0.0
    return {
        "kind": "claims", "nodes": nodes, "concurrency": plan.concurrency, "calls_held": plan.calls,
        "seconds": plan.seconds, "granted": granted, "refused": sum(r.refused for r in results),
        "errors": sum(r.errors for r in results),
        "first_error": next((r.first_error for r in results if r.first_error), ""),
        "claims_per_s": granted / plan.seconds, "claim_ms": summary(claim_ms), "offer_ms": summary(offer_ms),
        "cpu_ms_per_claim": {"postgresql": cpu["postgresql"] * per_claim, "nodes": cpu["nodes"] * per_claim},
        "machine_busy": cpu["machine_busy"], "load_average": list(cpu["load_average"]),
    }
