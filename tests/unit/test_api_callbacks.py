"""The supervisors' callback routes over a real store (SQLite and PostgreSQL) and a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.api.callbacks import routes
from ivr.core.callbacks import Callback, Limits, NewCallback, RetryPolicy
from ivr.store.callbacks import CallbackStore
from ivr.store.migrations import upgrade

ARRIVED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def campaigns_of(request: web.Request) -> list[str] | None:
    """The supervisor sees every campaign; ana serves support only."""
    return None if request.headers.get("X-Who") == "supervisor" else ["support"]


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], CallbackStore]]:
    await upgrade(engine)
    store = CallbackStore(engine, "ivr", wall=lambda: ARRIVED)
    app = web.Application()
    app.router.add_routes(routes(store, campaigns_of, recording))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, store


async def recording(name: str) -> bytes:
    if name != "ivr-callback-c1":
        raise OSError(f"no recording {name}")
    return b"RIFF....WAVE"


async def registered(store: CallbackStore, number: str = "+34600111222", message: str = "") -> str:
    stored = await store.register(NewCallback("sales", number, "", "1234", (), 5, ARRIVED, message, via="sales"),
                                  RetryPolicy(), Limits())
    assert isinstance(stored, Callback), stored
    return stored.id


async def test_the_supervisor_lists_cancels_and_reschedules_pending_callbacks(
        client: tuple[TestClient[web.Request, web.Application], CallbackStore]) -> None:
    http, store = client
    first, second = await registered(store), await registered(store, "+34600111333")
    supervisor = {"X-Who": "supervisor"}

    listed = await (await http.get("/api/callbacks?campaign=sales&state=pending", headers=supervisor)).json()
    assert sorted(c["id"] for c in listed["callbacks"]) == sorted([first, second])

    cancelled = await http.post(f"/api/callbacks/{first}/cancel", json={"reason": "asked by phone"},
                                headers=supervisor)
    assert cancelled.status == 200 and (await cancelled.json())["state"] == "cancelled"
    assert (await http.post(f"/api/callbacks/{first}/cancel", headers=supervisor)).status == 409

    moved = await http.post(f"/api/callbacks/{second}/reschedule", json={"at": "2026-12-07T11:30:00+01:00"},
                            headers=supervisor)
    assert (await moved.json())["not_before"] == "2026-12-07T10:30:00+00:00"


async def test_bad_requests_and_agents_tokens_are_refused(
        client: tuple[TestClient[web.Request, web.Application], CallbackStore]) -> None:
    http, store = client
    pending = await registered(store)
    supervisor = {"X-Who": "supervisor"}

    ana = {"X-Who": "ana"}
    assert (await (await http.get("/api/callbacks", headers=ana)).json()) == {"callbacks": []}
    assert (await http.get("/api/callbacks?campaign=sales", headers=ana)).status == 403
    assert (await http.post(f"/api/callbacks/{pending}/cancel", headers=ana)).status == 403
    assert (await http.post(f"/api/callbacks/{pending}/cancel", json={"reason": ["x"]},
                            headers=supervisor)).status == 400
    assert (await http.get("/api/callbacks?state=lost", headers=supervisor)).status == 400
    for body in ({"at": "tomorrow"}, {"at": "2026-12-07T11:30:00"}, ["x"]):
        refused = await http.post(f"/api/callbacks/{pending}/reschedule", json=body, headers=supervisor)
        assert refused.status == 400, body
    assert (await http.post("/api/callbacks/not-an-id/cancel", headers=supervisor)).status == 404


async def test_the_callers_message_is_served_as_audio(
        client: tuple[TestClient[web.Request, web.Application], CallbackStore]) -> None:
    http, store = client
    with_message = await registered(store, message="ivr-callback-c1")
    without = await registered(store, "+34600111333")
    lost = await registered(store, "+34600111444", message="ivr-callback-gone")

    served = await http.get(f"/api/callbacks/{with_message}/message")
    assert served.status == 200 and served.content_type == "audio/wav"
    assert await served.read() == b"RIFF....WAVE"
    assert (await http.get(f"/api/callbacks/{without}/message")).status == 404
    assert (await http.get(f"/api/callbacks/{lost}/message")).status == 503
