"""The web page's server side, over real HTTP (aiohttp's test server): sign-in, the session
cookie and its CSRF token, the limit on wrong secrets, what an agent may change, the security
headers, the event stream's resume, and the pause of an agent whose page went away."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from ivr.api.server import Api, PageOptions
from ivr.core.agents import AgentBoard, AgentProfile, State
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import LineEvent
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign
from ivr.core.waiting import Waiting
from ivr.store.own_agents import OwnAgents
from ivr.web import passwords
from ivr.web.pages import Pages


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines:
    def __init__(self) -> None:
        self.offer_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.counters: list[Callable[[LineEvent], None]] = []
        self.lines: dict[str, list[Waiting]] = {}

    def waiting_lines(self) -> dict[str, list[Waiting]]:
        return self.lines

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self.offer_listeners.append(listener)

    def count(self, counter: Callable[[LineEvent], None]) -> None:
        self.counters.append(counter)

    def offer(self, agent: str, **fields: Any) -> None:
        for listener in self.offer_listeners:
            listener({"type": "offer", "agent": agent, **fields})


TOKENS = {"supervisor-secret-token": "*", "ana-secret-token": "ana", "bo-secret-token": "bo"}


class Site:
    def __init__(self, folder: Path) -> None:
        self.clock = Clock()
        self.board = AgentBoard({"ana": AgentProfile("ana", "Ana"), "bo": AgentProfile("bo", "Bo")}, self.clock)
        self.lines = Lines()
        campaign = Campaign.model_validate({"agents": ("ana", "bo"), "service_level": 10})
        self.flow = Flow({Destination("campaign", "sales"): campaign}, {},
                         agents={name: Agent(phone="register") for name in ("ana", "bo")})
        self.api = Api(self.board, self.lines, cast(OwnAgents, None), dict(TOKENS), self.clock, lambda: self.flow,
                       options=PageOptions(crm_link="https://crm.example/c/{customer_id}", disconnected_after=30,
                                           wrong_secrets=5))
        self.api.page_routes = Pages(self.api, folder, lambda request: False).routes()
        self.folder = folder


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Site, TestClient[Any, Any]]]:
    made = Site(tmp_path)
    client: TestClient[Any, Any] = TestClient(TestServer(made.api.app()))
    await client.start_server()
    try:
        yield made, client
    finally:
        await made.api.close()
        await client.close()


async def sign_in(client: TestClient[Any, Any], who: str, secret: str) -> str:
    """Signs in; returns the page's CSRF token."""
    response = await client.post("/sign-in", data={"who": who, "secret": secret}, allow_redirects=False)
    assert response.status == 303, await response.text()
    page = await (await client.get(response.headers["Location"])).text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found is not None, page
    return found.group(1)


async def test_a_token_signs_in_to_an_http_only_strict_cookie_and_the_agents_page(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    _, client = site
    response = await client.post("/sign-in", data={"who": "ana", "secret": "ana-secret-token"},
                                 allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/agent"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    page = await client.get("/agent")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert (await client.get("/supervisor", allow_redirects=False)).headers["Location"] == "/"


async def test_a_password_set_by_the_admin_signs_in_and_a_wrong_one_does_not(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    passwords.store(made.folder, "*", "a long enough password")

    wrong = await client.post("/sign-in", data={"who": "supervisor", "secret": "a long enough passwort"},
                              allow_redirects=False)
    assert wrong.status == 401 and "Wrong name or password" in await wrong.text()
    await sign_in(client, "supervisor", "a long enough password")
    assert (await client.get("/api/wallboard")).status == 200
    assert (made.folder / "supervisor-password").stat().st_mode & 0o777 == 0o600


async def test_wrong_secrets_from_one_address_are_refused_for_a_while_even_the_right_one(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    for _ in range(3):
        await client.post("/sign-in", data={"who": "ana", "secret": "guess"})
    for _ in range(2):
        assert (await client.get("/api/agents", headers={"Authorization": "Bearer guess"})).status == 401

    refused = await client.get("/api/agents", headers={"Authorization": "Bearer ana-secret-token"})
    assert refused.status == 429 and refused.headers["Retry-After"] == "60"
    assert made.api.refused == {401: 5, 429: 1}  # counted for /metrics
    page = await client.post("/sign-in", data={"who": "ana", "secret": "ana-secret-token"}, allow_redirects=False)
    assert page.status == 429
    made.clock.now += 60
    assert (await client.get("/api/agents", headers={"Authorization": "Bearer ana-secret-token"})).status == 200


async def test_a_change_from_the_page_needs_its_csrf_token_and_acts_for_the_signed_in_agent_only(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    csrf = await sign_in(client, "ana", "ana-secret-token")

    assert (await client.post("/api/agents/ana/login")).status == 403
    assert (await client.post("/api/agents/ana/login", headers={"X-CSRF-Token": "forged"})).status == 403
    assert made.board.status("ana").state is State.LOGGED_OUT
    assert (await client.post("/api/agents/ana/login", headers={"X-CSRF-Token": csrf})).status == 200
    other = await client.post("/api/agents/bo/login", headers={"X-CSRF-Token": csrf})
    nobody = await client.post("/api/agents/zed/login", headers={"X-CSRF-Token": csrf})
    assert (other.status, await other.json()) == (nobody.status, await nobody.json()) == (
        403, {"error": "an agent acts for itself only"})
    assert made.board.status("bo").state is State.LOGGED_OUT
    assert (await client.get("/api/wallboard")).status == 403


@pytest.mark.parametrize(("body", "error"), [
    (b'{"reason": ["x"]}', 'reason: pause needs {"reason": "<1-80 printable characters>"}'),
    (b'{"reason": "a\\nb"}', 'reason: pause needs {"reason": "<1-80 printable characters>"}'),
    (b"[" * 5000 + b"]" * 5000, "body: nested deeper than 32 levels"),
    (b'\xef\xbb\xbf{"reason": "x"}', "body: starts with a byte-order mark"),
    (b"", "body: empty"),
])
async def test_a_bad_pause_body_is_a_400_that_names_the_problem(
        site: tuple[Site, TestClient[Any, Any]], body: bytes, error: str) -> None:
    made, client = site
    made.board.log_in("ana")
    response = await client.post("/api/agents/ana/pause", data=body,
                                 headers={"Authorization": "Bearer ana-secret-token"})
    assert (response.status, await response.json()) == (400, {"error": error})


async def test_a_wrongly_typed_own_agent_is_a_400(site: tuple[Site, TestClient[Any, Any]]) -> None:
    _, client = site
    response = await client.put("/api/customers/1234/agent", json={"agent": ["ana"]},
                                headers={"Authorization": "Bearer supervisor-secret-token"})
    assert (response.status, (await response.json())["error"]) == (
        400, 'agent: expected {"agent": "<id of an agent of the flow file>"}')


async def read_events(response: ClientResponse, count: int) -> list[tuple[str, str]]:
    """(id, event type) of the next ``count`` events."""
    found: list[tuple[str, str]] = []
    event_id = kind = ""
    while len(found) < count:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            kind = line[7:]
        elif not line and kind:
            found.append((event_id, kind))
            event_id = kind = ""
    return found


async def test_a_stream_that_reconnects_with_its_last_event_id_gets_the_offer_it_missed(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    headers = {"Authorization": "Bearer ana-secret-token"}
    first = await client.get("/api/events", headers=headers)
    made.board.log_in("ana")
    [(last_id, kind)] = await read_events(first, 1)
    assert kind == "agent"
    first.close()

    made.lines.offer("bo", call="c0")
    made.lines.offer("ana", call="c1", customer_id="12/34")
    again = await client.get("/api/events", headers={**headers, "Last-Event-ID": last_id})
    [(_, kind)] = await read_events(again, 1)
    assert kind == "offer"
    assert made.api.offers["ana"]["crm_link"] == "https://crm.example/c/12%2F34"
    stale = await client.get("/api/events", headers={**headers, "Last-Event-ID": "an-earlier-process-7"})
    assert await read_events(stale, 1) == [("", "resync")]


async def test_an_agent_whose_page_is_gone_longer_than_the_limit_is_paused_disconnected(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    made.board.log_in("ana")
    made.board.log_in("bo")
    await sign_in(client, "ana", "ana-secret-token")
    page = await client.get("/api/events")
    await read_events(page, 1)
    assert made.api.agent_view("ana")["page_connected"]
    page.close()
    for _ in range(150):  # the stream looks for its client every second
        if not made.api.presence.connected("ana"):
            break
        await asyncio.sleep(0.02)

    made.clock.now += 29
    made.api.check_pages()
    assert made.board.status("ana").state is State.READY
    made.clock.now += 1
    made.api.check_pages()
    assert (made.board.status("ana").state, made.board.status("ana").reason) == (State.PAUSED, "disconnected")
    assert made.board.status("bo").state is State.READY  # no page ever: the API and a softphone only


async def test_the_wallboard_counts_the_day_and_is_pushed_to_the_supervisor(
        site: tuple[Site, TestClient[Any, Any]]) -> None:
    made, client = site
    stream = await client.get("/api/events", headers={"Authorization": "Bearer supervisor-secret-token"})
    made.lines.lines = {"sales": [Waiting("c2", 5, 990.0, 1)]}
    for call in range(50):  # a burst: one row pushed for it
        for counter in made.lines.counters:
            counter(LineEvent("sales", f"c{call}", "answered", 4.0, "ana"))

    assert [kind for _, kind in await read_events(stream, 1)] == ["campaign"]
    pushed = [event for _, event in made.api.events.kept if event["type"] == "campaign"]
    assert [(row["campaign"], row["answered"]) for row in pushed] == [("sales", 50)]
    board = await (await client.get("/api/wallboard",
                                    headers={"Authorization": "Bearer supervisor-secret-token"})).json()
    assert board["campaigns"] == [{"campaign": "sales", "waiting": 1, "longest_wait_seconds": 10.0, "entered": 0,
                                   "answered": 50, "abandoned": 0, "left": 0, "service_level": 100.0,
                                   "service_level_seconds": 10.0, "average_answer_seconds": 4.0}]


async def test_a_client_that_stops_reading_is_let_go_and_the_others_go_on(
        site: tuple[Site, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen page (its socket full) must not hold the stream writer, nor the events of others."""
    from ivr.api import event_stream

    monkeypatch.setattr(event_stream, "SEND_TIMEOUT", 0.5)
    made, client = site
    headers = {"Authorization": "Bearer supervisor-secret-token"}
    frozen = await client.get("/api/events", headers=headers)
    reading = await client.get("/api/events", headers=headers)
    for _ in range(50):
        if len(made.api.events.clients) == 2:
            break
        await asyncio.sleep(0.02)

    for n in range(400):  # more than the sockets' buffers hold, and than the stream's queue
        made.lines.offer("ana", call=f"c{n}", variables={"note": "x" * 64_000})
        if n % 10 == 0:
            await read_events(reading, 10 if n else 1)
    for _ in range(100):
        if len(made.api.events.clients) == 1:
            break
        await asyncio.sleep(0.05)
    assert len(made.api.events.clients) == 1
    frozen.close()
