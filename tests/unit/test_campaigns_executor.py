"""The distribution's executor against a fake ARI that records every request (no Asterisk)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from ivr.core.agents import AgentBoard, AgentProfile
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.engine import Distribution
from ivr.core.events import AgentAnswered, AgentConnected, Event
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign
from ivr.stasis.campaigns import Campaigns
from ivr.store.claims import NodeAloneClaims
from ivr.store.engine import open_engine
from ivr.store.own_agents import OwnAgents
from tests.unit.fake_ari import Recorder, rest_for

CALL = WaitingCall("600", "100", "1234", ())


class Ari(Recorder):
    """Records requests by method and path; a ring (originate) may be answered late or fail."""

    def __init__(self, ring_delay: float = 0.0, ring_status: int = 204) -> None:
        super().__init__()
        self.ring_delay = ring_delay
        self.ring_status = ring_status

    async def handle(self, request: web.Request) -> web.Response:
        ring = request.method == "POST" and request.path == "/ari/channels"
        name = f"ring {request.query['channelId']}" if ring else f"{request.method} {request.path}"
        if ring and self.ring_delay:
            await asyncio.sleep(self.ring_delay)
        self.requests.append(name)
        self.arrived.set()
        if ring and self.ring_status != 204:
            return web.json_response({"message": "Allocation failed"}, status=self.ring_status)
        return web.Response(status=204)


@asynccontextmanager
async def executor(ari: Ari, tmp_path: Path, strategy: str) -> AsyncIterator[tuple[Campaigns, list[tuple[str, Event]]]]:
    board = AgentBoard({name: AgentProfile(name) for name in ("ana", "bo")}, lambda: 0.0)
    for name in ("ana", "bo"):
        board.log_in(name)
    flow = Flow({Destination("campaign", "sales"): Campaign(agents=("ana", "bo"), strategy=strategy)}, {},
                agents={name: Agent(phone="sip:x@127.0.0.1") for name in ("ana", "bo")})
    engine = Distribution(board, lambda: flow, lambda: 0.0, lambda: datetime.now(UTC), random.Random(1), strict=True)
    told: list[tuple[str, Event]] = []
    database = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}")
    async with rest_for(ari) as rest, aiohttp.ClientSession() as http:
        yield Campaigns(rest, "ivr", engine, lambda call, event: told.append((call, event)), NodeAloneClaims(),
                        OwnAgents(database), http), told
    await database.dispose()


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(2):
        while not check():  # noqa: ASYNC110 - the fake ARI's requests have no event of their own
            await asyncio.sleep(0.005)


async def test_at_an_answer_the_others_are_hung_up_then_the_caller_is_bridged_once_ready(tmp_path: Path) -> None:
    ari = Ari()
    async with executor(ari, tmp_path, "ring-all") as (campaigns, told):
        campaigns.join("c1", "sales", 5, CALL)
        await until(lambda: len(ari.requests) == 2)
        assert sorted(ari.requests) == ["ring c1-agent-1", "ring c1-agent-2"]

        campaigns.on_event({"type": "StasisStart"}, "c1-agent-2")
        assert told == [("c1", AgentAnswered("bo"))]
        await until(lambda: len(ari.requests) == 3)
        campaigns.connect("c1")
        await until(lambda: len(told) == 2)

    assert ari.requests[2:] == ["DELETE /ari/channels/c1-agent-1", "POST /ari/bridges/c1-agent-2-bridge",
                                "POST /ari/bridges/c1-agent-2-bridge/addChannel"]
    assert told[1] == ("c1", AgentConnected("bo"))


async def test_a_caller_leaving_while_the_ring_is_on_its_way_hangs_up_after_it(tmp_path: Path) -> None:
    ari = Ari(ring_delay=0.05)
    async with executor(ari, tmp_path, "ordered") as (campaigns, _):
        campaigns.join("c1", "sales", 5, CALL)
        await asyncio.sleep(0.01)
        campaigns.leave("c1")
        await until(lambda: len(ari.requests) == 2)

    assert ari.requests == ["ring c1-agent-1", "DELETE /ari/channels/c1-agent-1"]


async def test_an_agent_that_cannot_be_rung_passes_the_call_to_the_next(tmp_path: Path) -> None:
    ari = Ari(ring_status=500)
    async with executor(ari, tmp_path, "ordered") as (campaigns, _):
        campaigns.join("c1", "sales", 5, CALL)
        await until(lambda: campaigns.engine.items["c1"].start_over)

    assert ari.requests == ["ring c1-agent-1", "ring c1-agent-2"], "both tried, then wait for the next tick"
    assert campaigns.engine.board.status("ana").no_answers == 1


async def test_an_agent_leg_of_an_earlier_process_is_hung_up(tmp_path: Path) -> None:
    ari = Ari()
    async with executor(ari, tmp_path, "ordered") as (campaigns, _):
        campaigns.on_event({"type": "StasisStart"}, "old-agent-9")
        await until(lambda: len(ari.requests) == 1)

    assert ari.requests == ["DELETE /ari/channels/old-agent-9"]
