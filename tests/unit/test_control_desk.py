"""The per-call control API of backend-run campaigns: what each command is answered, what it
starts, and a repeated command id run once; with the calls' store on SQLite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.api.control import MAX_BODY, ControlDesk
from ivr.core.destinations import Destination
from ivr.core.distribution.events import ConnectTarget, Target
from ivr.core.events import BackendPlay, BackendSend, BackendSetVariables
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent, Trunk
from ivr.core.nodes import Campaign, Message, Node
from ivr.store import migrations
from ivr.store.backend_calls import BackendCall, BackendCalls
from tests.ports import free_port


class Desk:
    def __init__(self, calls: BackendCalls, http: aiohttp.ClientSession) -> None:
        front = Campaign.model_validate({"mode": "backend", "backend_url": "http://b/calls",
                                         "backend_secret_env": "S", "allow_sip": ["*.example.com"],
                                         "backend_trunks": ["pstn", "sip-out"]})
        nodes: dict[Destination, Node] = {Destination("campaign", "front"): front,
                                          Destination("message", "bye"): Message(prompt=("sound:bye",))}
        trunks = {"pstn": Trunk(dial="PJSIP/{number}@pstn", allow=("+34*",)),
                  "sip-out": Trunk(dial="PJSIP/out/{number}", allow=("sip:*",))}
        self.flow = Flow(nodes, {}, trunks=trunks, agents={"ana": Agent(phone="register")})
        self.states: dict[str, str] = {"c1": "waiting"}
        self.fed: list[object] = []
        self.posted: list[tuple[str, object]] = []
        self.desk = ControlDesk(calls, lambda: self.flow, self.states.get, self.fed.append,
                                lambda call, event: self.posted.append((call, event)), http)
        self.call = BackendCall("c1", "ivr", "http://127.0.0.1:1/", "front")

    def send(self, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.desk.command(self.call, raw)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.sqlite3'}")
    await migrations.upgrade(engine)
    async with aiohttp.ClientSession() as http:
        yield Desk(BackendCalls(engine, "ivr", "http://127.0.0.1:1/"), http)
    await engine.dispose()


async def test_a_call_is_found_only_with_its_own_token(desk: Desk) -> None:
    await desk.desk.calls.add("c1", "front", "the-token")
    found = await desk.desk.calls.find("c1", "the-token")
    assert found is not None and (found.node, found.campaign) == ("ivr", "front")
    assert await desk.desk.calls.find("c1", "another") is None
    assert await desk.desk.calls.find("c2", "the-token") is None


def test_a_connect_rings_its_target_and_the_same_id_runs_once(desk: Desk) -> None:
    assert desk.send({"id": "k1", "command": "connect", "agent": "ana"}) == (202, {"id": "k1", "state": "ringing"})
    desk.states["c1"] = "ringing"
    assert desk.send({"id": "k1", "command": "connect", "agent": "ana"}) == (202, {"id": "k1", "state": "ringing"})
    assert desk.fed == [ConnectTarget("c1", "k1", Target("agent", "ana", ""))]


@pytest.mark.parametrize(("target", "endpoint"), [
    ({"number": "+34600111222"}, "PJSIP/+34600111222@pstn"),
    ({"sip": "sip:op@pbx.example.com"}, "PJSIP/out/sip:op@pbx.example.com")])
def test_numbers_and_sip_uris_go_through_the_campaigns_trunks(desk: Desk, target: dict[str, str],
                                                              endpoint: str) -> None:
    status, _ = desk.send({"id": "k1", "command": "connect", **target})
    assert status == 202
    [connect] = desk.fed
    assert isinstance(connect, ConnectTarget) and connect.target.endpoint == endpoint


@pytest.mark.parametrize(("target", "status", "error"), [
    ({"sip": "sip:op@evil.org"}, 403, "sip: sip:op@evil.org is not in the campaign's allow_sip"),
    ({"number": "+447700900123"}, 403, "number: +447700900123 is allowed by none of the campaign's backend_trunks"),
    ({"number": "600111222"}, 400, "number: expected + and 6-15 digits"),
    ({"agent": "zed"}, 400, "agent: no agent 'zed' in the flow file"),
    ({"agent": "ana", "number": "+34600111222"}, 400, "connect: one of agent, sip or number")])
def test_targets_outside_the_allow_lists_or_malformed_are_refused(desk: Desk, target: dict[str, str],
                                                                  status: int, error: str) -> None:
    assert desk.send({"id": "k1", "command": "connect", **target}) == (status, {"id": "k1", "error": error})
    assert desk.fed == []


def test_the_calls_state_decides_what_it_allows(desk: Desk) -> None:
    desk.states["c1"] = "talking"
    assert desk.send({"id": "k1", "command": "play", "media": ["sound:beep"]}) == (
        409, {"id": "k1", "error": "play needs the call waiting; it is talking", "state": "talking"})
    assert desk.send({"id": "k2", "command": "set", "variables": {"tier": "gold"}}) == (
        202, {"id": "k2", "state": "talking"})
    del desk.states["c1"]
    assert desk.send({"id": "k3", "command": "connect", "agent": "ana"}) == (
        410, {"id": "k3", "error": "the call has ended", "state": "ended"})
    assert desk.posted == [("c1", BackendSetVariables((("tier", "gold"),)))]


def test_play_send_and_set_reach_the_callers_flow(desk: Desk) -> None:
    assert desk.send({"id": "k1", "command": "play", "media": ["sound:ivr/please-hold"]})[0] == 202
    assert desk.send({"id": "k2", "command": "send", "destination": "message:bye"}) == (
        202, {"id": "k2", "state": "sent"})
    assert desk.send({"id": "k3", "command": "send", "destination": "menu:nope"}) == (
        400, {"id": "k3", "error": "destination: no node menu:nope in the flow file"})
    assert desk.send({"id": "k4", "command": "set", "variables": {"1bad": "x"}})[0] == 400
    assert desk.posted == [("c1", BackendPlay(("sound:ivr/please-hold",))),
                           ("c1", BackendSend(Destination("message", "bye")))]


@pytest.mark.parametrize(("body", "status"), [(b"not json", 400), (b"[1]", 400), (b'{"command": "play"}', 400),
                                              (b"[" * 100_000, 413), (b"[" * 5_000 + b"]" * 5_000, 400),
                                              (b'{"id": "k1", "command": "dance"}', 400)])
def test_malformed_commands_are_refused_with_the_field_named(desk: Desk, body: bytes, status: int) -> None:
    assert len(body) <= MAX_BODY or status == 413
    assert desk.send(body)[0] == status
    assert desk.fed == [] and desk.posted == []


async def test_a_request_to_a_node_not_holding_the_call_is_forwarded_to_the_one_that_does(
        tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.sqlite3'}")
    await migrations.upgrade(engine)
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    runners = []
    async with aiohttp.ClientSession() as http:
        desks = [Desk(BackendCalls(engine, f"node-{index}", url), http) for index, url in enumerate(urls)]
        for desk, port in zip(desks, ports, strict=True):
            app = web.Application()
            app.router.add_routes(desk.desk.routes())
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
        try:
            await desks[0].desk.calls.add("c1", "front", "the-token")
            async with http.post(f"{urls[1]}/control/c1/the-token",
                                 json={"id": "k1", "command": "connect", "agent": "ana"}) as answer:
                assert (answer.status, await answer.json()) == (202, {"id": "k1", "state": "ringing"})
            async with http.get(f"{urls[1]}/control/c1/the-token") as state:
                assert await state.json() == {"call": "c1", "state": "waiting"}
            async with http.get(f"{urls[1]}/control/c1/another-token") as wrong:
                assert wrong.status == 404
        finally:
            for runner in runners:
                await runner.cleanup()
    await engine.dispose()
    assert desks[0].fed == [ConnectTarget("c1", "k1", Target("agent", "ana", ""))] and desks[1].fed == []
