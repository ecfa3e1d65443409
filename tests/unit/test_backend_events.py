"""Call events delivered to a backend-run campaign's webhook, on SQLite and on PostgreSQL, against
a real HTTP server on 127.0.0.1 standing for the customer's backend: signed, in order per call,
each acknowledged event once, whatever the backend does meanwhile."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.backend.delivery import Delivery
from ivr.backend.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from ivr.store import migrations
from ivr.store.backend_events import EventOutbox, PendingEvent
from ivr.store.schema import backend_events
from tests.ports import free_port

SECRET = "campaign-secret-0123456789"
Event = dict[str, Any]


class Backend:
    """The customer's backend: checks every request's signature, records each event it was sent
    and each it acknowledged (204). ``down`` answers 503 to all; calls in ``refused`` get 503;
    calls in ``hanging``, and every event after ``ack_limit`` acknowledgements, get no answer
    until ``release``, then a 503 (which the sender may have stopped waiting for): an event is
    only ever acknowledged by a request the backend was not holding."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.seen: list[Event] = []
        self.acked: list[Event] = []
        self.forged: list[bytes] = []
        self.down = False
        self.refused: set[str] = set()
        self.hanging: set[str] = set()
        self.release = asyncio.Event()
        self.ack_limit: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/events", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = json.loads(body)
        if not (request.headers["Content-Type"] == "application/json"
                and request.headers[EVENT_ID_HEADER] == event["id"]
                and verify(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER],
                           now=time.time())):
            self.forged.append(body)
            return web.Response(status=401)
        self.seen.append(event)
        if event["call"] in self.hanging or (self.ack_limit is not None and len(self.acked) >= self.ack_limit):
            # Decided now: a request released after its sender gave up (timed out, or was
            # cancelled) acknowledges nothing, whatever the test has changed meanwhile.
            await self.release.wait()
            return web.Response(status=503, text="gave up waiting")
        if self.down or event["call"] in self.refused:
            return web.Response(status=503, text="down for maintenance")
        self.acked.append(event)
        return web.Response(status=204)

    def sent(self, call: str) -> list[int]:
        return [event["seq"] for event in self.seen if event["call"] == call]

    def acknowledged(self, call: str) -> list[int]:
        return [event["seq"] for event in self.acked if event["call"] == call]


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    started = Backend()
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def outbox(engine: AsyncEngine) -> EventOutbox:
    await migrations.upgrade(engine)
    return EventOutbox(engine, "node-1")


@asynccontextmanager
async def delivering(outbox: EventOutbox, secret_for: Callable[[str], str | None] = lambda _: SECRET,
                     timeout: float = 2.0) -> AsyncIterator[Delivery]:
    async with aiohttp.ClientSession() as http:
        delivery = Delivery(outbox, http, secret_for, timeout=timeout, backoff=lambda attempts: 0.05)
        task = asyncio.create_task(delivery.run())
        try:
            yield delivery
        finally:
            task.cancel()
            await stopped(task)


async def stopped(task: asyncio.Task[None], timeout: float = 10.0) -> None:
    """Asserts that the cancelled delivery task ends, cancelled, within ``timeout`` (a delivery
    that lost its cancellation once hung here, and would hang ``ivr run`` stopping)."""
    await asyncio.wait([task], timeout=timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait([task])
        pytest.fail(f"the delivery task ran on for {timeout} s after being cancelled")
    assert task.cancelled()


async def until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Polls ``check`` (plain or a coroutine function): the backend's requests have no event."""
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.01)


async def tried(engine: AsyncEngine, times: int) -> bool:
    """Whether some event has failed ``times`` times."""
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.max(backend_events.c.attempts)))).scalar() or 0) >= times


async def drained(outbox: EventOutbox) -> bool:
    """Whether the outbox has stored every answer (just after the backend recorded it)."""
    return await outbox.pending_count() == 0


async def add(outbox: EventOutbox, delivery: Delivery | None, url: str, *events: tuple[str, int]) -> list[str]:
    """Adds ``(call, n)``: n events of call ``call``, poking the delivery after each like the app."""
    ids = []
    for call, count in events:
        for n in range(count):
            ids.append(await outbox.add(call, "sales", url, "progress", {"step": n}))
            if delivery is not None:
                delivery.poke()
    return ids


async def test_a_calls_events_reach_the_backend_in_order_signed_each_under_its_own_id(
        outbox: EventOutbox, backend: Backend) -> None:
    async with delivering(outbox) as delivery:
        ids = []
        for _ in range(5):
            ids += await add(outbox, delivery, backend.url, ("c1", 1), ("c2", 1))
        await until(lambda: len(backend.acked) == 10, "10 events acknowledged")
        await until(lambda: drained(outbox), "the answers stored")
    assert backend.acknowledged("c1") == backend.acknowledged("c2") == [1, 2, 3, 4, 5]
    assert sorted(event["id"] for event in backend.acked) == sorted(ids) and len(set(ids)) == 10
    assert backend.forged == [] and len(backend.seen) == 10
    first = backend.acked[0]
    assert set(first) == {"id", "type", "call", "seq", "at", "campaign", "step"}
    assert (first["type"], first["campaign"], first["step"]) == ("progress", "sales", 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["at"])


async def test_data_may_not_replace_the_keys_of_the_event_and_a_calls_numbers_never_clash(
        engine: AsyncEngine, outbox: EventOutbox) -> None:
    with pytest.raises(ValueError, match="data may not set call, seq"):
        await outbox.add("c1", "sales", "http://backend/", "answered", {"seq": 9, "call": "c2", "x": 1})
    assert await outbox.pending_count() == 0
    # Added at once through two app nodes' connections (the app adds a call's one at a time).
    engines = [create_async_engine(engine.url) for _ in range(2)]
    try:
        nodes = [EventOutbox(e, "node-1") for e in engines]
        await asyncio.gather(*(node.add("c1", "sales", "http://backend/", "t", {}) for node in nodes * 2))
    finally:
        for created in engines:
            await created.dispose()
    async with engine.connect() as connection:
        seqs = (await connection.execute(select(backend_events.c.seq))).scalars().all()
    assert sorted(seqs) == [1, 2, 3, 4]


@pytest.mark.parametrize("down", ["answering 503", "not listening"])
async def test_a_backend_down_for_a_while_then_up_gets_every_event_in_order_and_acknowledges_each_once(
        engine: AsyncEngine, outbox: EventOutbox, backend: Backend, down: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ivr.backend")
    if down == "not listening":
        await backend.stop()
    else:
        backend.down = True
    async with delivering(outbox) as delivery:
        ids = await add(outbox, delivery, backend.url, ("c1", 3), ("c2", 2))
        await until(lambda: tried(engine, 3), "the first events tried 3 times")
        assert 2 not in backend.sent("c1") + backend.sent("c2")
        if down == "not listening":
            await backend.start()
        else:
            backend.down = False
        await until(lambda: len(backend.acked) == 5, "5 events acknowledged")
        await until(lambda: drained(outbox), "the answers stored")
    assert backend.acknowledged("c1") == [1, 2, 3] and backend.acknowledged("c2") == [1, 2]
    assert sorted(event["id"] for event in backend.acked) == sorted(ids)
    failures = [r for r in caplog.records if r.levelno == logging.WARNING and "not delivered" in r.message]
    logged = {int(re.findall(r"attempt (\d+),", r.message)[0]) for r in failures}
    assert 1 in logged and not logged & {2, 3}  # c1's first was tried 3 times: not a line per retry
    assert any(r.levelno == logging.INFO and "answers again" in r.message for r in caplog.records)


@pytest.mark.parametrize("failing", ["refused", "hanging"])
async def test_a_call_whose_backend_fails_holds_back_its_own_later_events_and_no_other_calls(
        outbox: EventOutbox, backend: Backend, failing: str) -> None:
    getattr(backend, failing).add("A")
    async with delivering(outbox, timeout=1.0) as delivery:
        await add(outbox, delivery, backend.url, ("A", 2), ("B", 3))
        await until(lambda: backend.acknowledged("B") == [1, 2, 3], "call B's events acknowledged")
        assert backend.sent("A") == [1] * len(backend.sent("A"))  # A's second never before its first
        getattr(backend, failing).clear()
        backend.release.set()
        await until(lambda: backend.acknowledged("A") == [1, 2], "call A's events acknowledged")
        await until(lambda: drained(outbox), "the answers stored")
    assert len(backend.acked) == 5


async def test_a_delivery_started_after_a_cancelled_one_sends_the_rest_and_nothing_acknowledged_again(
        outbox: EventOutbox, backend: Backend) -> None:
    backend.ack_limit = 3
    async with delivering(outbox) as delivery:
        ids = await add(outbox, delivery, backend.url, ("c1", 6))
        await until(lambda: backend.sent("c1")[3:], "the fourth event sent, and held by the backend")
        assert await outbox.pending_count() == 3
    # Cancelled with the fourth in flight; the backend lets its request go unanswered (503).
    backend.ack_limit = None
    backend.release.set()
    async with delivering(outbox):
        await until(lambda: len(backend.acked) == 6, "6 events acknowledged")
        await until(lambda: drained(outbox), "the answers stored")
    assert backend.acknowledged("c1") == [1, 2, 3, 4, 5, 6]
    assert [event["id"] for event in backend.acked] == ids


async def test_an_event_of_a_campaign_without_a_secret_waits_and_says_why(
        engine: AsyncEngine, outbox: EventOutbox, backend: Backend) -> None:
    async with delivering(outbox, secret_for=lambda campaign: SECRET if campaign == "sales" else None) as delivery:
        await outbox.add("c1", "gone", backend.url, "answered", {})
        await add(outbox, delivery, backend.url, ("c2", 2))
        await until(lambda: tried(engine, 2), "the secretless event tried twice")
        await until(lambda: len(backend.acked) == 2, "the other campaign's events acknowledged")
    assert backend.sent("c1") == [] and await outbox.pending_count() == 1
    async with engine.connect() as connection:
        error = (await connection.execute(select(backend_events.c.last_error))).scalars().all()
    assert "campaign 'gone' has no webhook secret" in "".join(error)


async def test_the_delivery_task_outlives_a_database_error(
        outbox: EventOutbox, backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    unreachable = create_async_engine("sqlite+aiosqlite:////nonexistent-folder/ivr.sqlite3")
    async with delivering(EventOutbox(unreachable, outbox.node)) as delivery:
        await until(lambda: "backend events not read" in caplog.text, "the error logged")
        delivery.outbox = outbox
        await add(outbox, delivery, backend.url, ("c1", 2))
        await until(lambda: backend.acknowledged("c1") == [1, 2], "events acknowledged after the error")
    await unreachable.dispose()


class CountingOutbox(EventOutbox):
    """Counts the delivery's rounds: each ends with ``due`` returning, the delivery then resting."""

    rounds = 0

    async def due(self, limit: int = 50) -> list[PendingEvent]:
        events = await super().due(limit)
        self.rounds += 1
        return events


async def test_a_delivery_cancelled_just_as_it_is_poked_stops(engine: AsyncEngine, outbox: EventOutbox) -> None:
    counting = CountingOutbox(engine, outbox.node)
    async with aiohttp.ClientSession() as http:
        delivery = Delivery(counting, http, lambda _: SECRET)
        task = asyncio.create_task(delivery.run())
        await until(lambda: counting.rounds, "the first round done: the delivery resting until poked")
        delivery.poke()  # e.g. an event just delivered, or a retry due, as `ivr run` stops
        task.cancel()
        await stopped(task)


def test_a_signature_is_refused_for_another_body_secret_or_an_old_or_future_timestamp() -> None:
    now = time.time()
    stamp = str(int(now))
    signature = sign(SECRET, stamp, b'{"id": "1"}')
    assert verify(SECRET, stamp, b'{"id": "1"}', signature, now)
    assert not verify(SECRET, stamp, b'{"id": "2"}', signature, now)
    assert not verify("another-secret", stamp, b'{"id": "1"}', signature, now)
    old, future = str(int(now) - 301), str(int(now) + 301)
    assert not verify(SECRET, old, b'{"id": "1"}', sign(SECRET, old, b'{"id": "1"}'), now)
    assert not verify(SECRET, future, b'{"id": "1"}', sign(SECRET, future, b'{"id": "1"}'), now)
    assert not verify(SECRET, stamp, b'{"id": "1"}', signature.upper(), now)
