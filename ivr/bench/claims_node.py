"""One simulated app node of `ivr bench claims`: a process of its own, with its own engine and
connection pool as `ivr run` has, doing the database work of the offers of its calls through
the app's own code (ivr.store.claims): a caller joins the shared line, an agent is claimed for
it (the claim asks first whether another node has a caller ahead), the caller leaves the line
when answered, and the claim is released after the call.

Each of the node's offer loops has a campaign and agents of its own, so every claim is granted
and the figure is the database's cost of a claim, not of nodes racing for one agent. Meanwhile
the node holds calls in progress as a loaded node does (rows of ivr_calls_open and agents'
claims), renewed every RENEW_SECONDS by the app's own renewal tasks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.store.claims import LEASE_SECONDS, AgentClaims, Place, keep_renewing
from ivr.store.engine import open_engine
from ivr.store.open_calls import Closed, OpenCall, OpenCalls, add_open, keep_open_calls
from ivr.store.schema import agent_claims

AGENTS_PER_LOOP = 4
"""Agents each offer loop claims in turn, so that consecutive claims touch different rows."""


@dataclass(frozen=True)
class NodeJob:
    url: str
    index: int
    concurrency: int
    """Offers the node has in flight at once (its offer loops)."""
    calls: int
    """Calls in progress the node holds meanwhile."""

    @property
    def node(self) -> str:
        return f"bench-{self.index}"


@dataclass(frozen=True)
class Schedule:
    """Wall-clock times (time.time()) shared by the nodes: start, then the measured window."""

    start: float
    measure_from: float
    end: float


@dataclass
class NodeResult:
    granted: int = 0
    refused: int = 0
    errors: int = 0
    first_error: str = ""
    claim_ms: list[float] = field(default_factory=list)
    """How long each claim took (one transaction: the check of the line, then the update)."""
    offer_ms: list[float] = field(default_factory=list)
    """How long the whole offer's work took: joined, claim, left, release."""


def run_node(job: NodeJob, pipe: Connection) -> None:
    """The target of the node's process: says "ready", takes the schedule, sends its result."""
    pipe.send(asyncio.run(_node(job, pipe)))


async def _node(job: NodeJob, pipe: Connection) -> NodeResult:
    engine = open_engine(job.url)
    claims = AgentClaims(engine, job.node)
    try:
        await _prepare(engine, job)
        pipe.send("ready")
        schedule: Schedule = await asyncio.to_thread(pipe.recv)
        await asyncio.sleep(max(0.0, schedule.start - time.time()))
        result = NodeResult()
        background = [asyncio.create_task(keep_renewing(claims)),
                      asyncio.create_task(keep_open_calls(OpenCalls(engine, job.node), _nobody, others=True))]
        await asyncio.gather(*(_offers(claims, job.node, loop, schedule, result)
                               for loop in range(job.concurrency)))
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        return result
    finally:
        await engine.dispose()


async def _nobody(calls: list[Closed]) -> None:
    """No node of the run stops, so no other node's calls are ever closed here."""


def _agents(node: str, loop: int) -> list[str]:
    """
    >>> _agents("bench-0", 2)
    ['bench-0-2-0', 'bench-0-2-1', 'bench-0-2-2', 'bench-0-2-3']
    """
    return [f"{node}-{loop}-{n}" for n in range(AGENTS_PER_LOOP)]


async def _prepare(engine: AsyncEngine, job: NodeJob) -> None:
    """The offer loops' agents, free; the calls in progress, each with its agent claimed."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=LEASE_SECONDS)
    free = [{"agent": agent} for loop in range(job.concurrency) for agent in _agents(job.node, loop)]
    held = [{"agent": f"{job.node}-held-{n}", "node": job.node, "token": f"held-{n}", "expires_at": expires}
            for n in range(job.calls)]
    calls = [OpenCall(f"{job.node}-call-{n}", "200", "100", "bench", now) for n in range(job.calls)]
    async with engine.begin() as connection:
        await connection.execute(insert(agent_claims), free)
        if job.calls:
            await connection.execute(insert(agent_claims), held)
            await add_open(connection, job.node, calls, now)


async def _offers(claims: AgentClaims, node: str, loop: int, schedule: Schedule, result: NodeResult) -> None:
    agents = _agents(node, loop)
    campaign = f"{node}-{loop}"
    count = 0
    while (began_at := time.time()) < schedule.end:
        count += 1
        call_id, agent = f"{node}-{loop}-call-{count}", agents[count % AGENTS_PER_LOOP]
        token, place = f"offer-{call_id}", Place(campaign, 0, datetime.now(UTC))
        began = time.perf_counter()
        try:
            await claims.joined(call_id, place)
            asked = time.perf_counter()
            granted = await claims.claim(agent, token, place)
            claimed = time.perf_counter()
            await claims.left(call_id)
            await claims.release(agent, token)
        except (SQLAlchemyError, OSError) as exc:
            result.errors += 1
            result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"[:300]
            continue
        if began_at < schedule.measure_from:
            continue
        result.granted += granted
        result.refused += not granted
        result.claim_ms.append((claimed - asked) * 1000)
        result.offer_ms.append((time.perf_counter() - began) * 1000)
