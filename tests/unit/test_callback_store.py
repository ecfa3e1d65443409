"""The callbacks' store on SQLite and on PostgreSQL, with app nodes racing for the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.core.callbacks import Callback, CallbackState, Limits, NewCallback, Refusal, RetryPolicy
from ivr.store import migrations
from ivr.store.callbacks import CallbackStore, UnknownCallback
from ivr.store.claims import LEASE_SECONDS
from ivr.store.own_agents import OwnAgents
from ivr.store.schema import callbacks, own_agents

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(initial_delay=60, max_attempts=2, retry_delay=300, expires_after=3600)
LIMITS = Limits(max_open_per_number=1, max_per_number_per_day=3)


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def request(number: str = "+34600111222", campaign: str = "sales") -> NewCallback:
    return NewCallback(campaign, number, caller_id="+34910000000", customer_id="1234",
                       variables=(("name", "Ana Pérez"), ("plan", "gold")), priority=2,
                       arrived_at=NOON - timedelta(minutes=3), message="callbacks/msg-1",
                       call_id="1700000000.42")


@pytest.fixture
async def store(engine: AsyncEngine) -> CallbackStore:
    await migrations.upgrade(engine)
    return CallbackStore(engine, "a", Clock())


@pytest.fixture
async def nodes(engine: AsyncEngine) -> AsyncIterator[list[CallbackStore]]:
    """Four app nodes, each with its own connections as separate processes would have, one clock."""
    await migrations.upgrade(engine)
    engines = [create_async_engine(engine.url) for _ in range(4)]
    clock = Clock()
    yield [CallbackStore(e, f"node-{i}", clock) for i, e in enumerate(engines)]
    for created in engines:
        await created.dispose()


async def registered(store: CallbackStore, new: NewCallback | None = None,
                     policy: RetryPolicy = POLICY) -> Callback:
    callback = await store.register(new or request(), policy, LIMITS)
    assert isinstance(callback, Callback), callback
    return callback


def clock_of(store: CallbackStore) -> Clock:
    assert isinstance(store.wall, Clock)
    return store.wall


async def dial(store: CallbackStore, id: str) -> int | None:
    return await store.start_attempt(id) if await store.hold(id) else None


async def test_a_registered_callback_comes_back_with_every_field(store: CallbackStore) -> None:
    paris = timezone(timedelta(hours=1))
    new = replace(request(), arrived_at=(NOON - timedelta(minutes=3)).astimezone(paris))

    callback = await registered(store, new)

    assert callback == Callback(callback.id, new, CallbackState.PENDING, NOON, NOON + timedelta(seconds=60),
                                NOON + timedelta(hours=1), attempts=0, max_attempts=2, retry_delay=300.0)
    assert len(callback.id) == 32
    assert await store.get(callback.id) == callback
    assert await store.list() == [callback]
    assert await store.open_in("sales") == [callback]
    assert await store.open_in("support") == []
    assert await store.get("nope") is None


async def test_a_number_with_an_open_callback_is_refused_in_that_campaign(store: CallbackStore) -> None:
    first = await registered(store)

    refused = await store.register(request(), POLICY, LIMITS)
    elsewhere = await store.register(request(campaign="support"), POLICY, LIMITS)
    await store.cancel(first.id, "customer called again")
    again = await store.register(request(), POLICY, LIMITS)

    assert refused == Refusal("open", "callback to +34600111222 refused: it has 1 open in campaign sales, at most 1 allowed")
    assert isinstance(elsewhere, Callback)
    assert isinstance(again, Callback)
    assert len(await store.list()) == 3


async def test_a_number_gets_so_many_callbacks_a_day_whatever_the_campaign(store: CallbackStore) -> None:
    for campaign in ("sales", "support", "billing"):
        await registered(store, request(campaign=campaign))

    refused = await store.register(request(campaign="retention"), POLICY, LIMITS)
    other_number = await store.register(request("+34600333444", "retention"), POLICY, LIMITS)
    clock_of(store).advance(24 * 3600 - 1)
    still = await store.register(request(campaign="retention"), POLICY, LIMITS)
    clock_of(store).advance(2)
    next_day = await store.register(request(campaign="retention"), POLICY, LIMITS)

    message = "callback to +34600111222 refused: 3 requested in the last 24 hours, at most 3 allowed"
    assert (refused, still) == (Refusal("rate", message), Refusal("rate", message))
    assert isinstance(other_number, Callback)
    assert isinstance(next_day, Callback)
    assert len(await store.list()) == 5


async def test_a_field_too_long_to_store_is_named(store: CallbackStore) -> None:
    with pytest.raises(ValueError, match="callback to '\\+34600111222': call_id has 129 characters, at most 128 fit"):
        await store.register(replace(request(), call_id="x" * 129), POLICY, LIMITS)
    assert await store.list() == []


async def test_nodes_registering_one_number_at_once_get_one_callback(nodes: list[CallbackStore]) -> None:
    """100 races, each among 4 nodes registering the same number with max_open 1."""
    outcomes = []
    for race in range(100):
        new = request(f"+34600{race:06d}")
        results = await asyncio.gather(*(node.register(new, POLICY, LIMITS) for node in nodes))
        outcomes.append(sorted(r.reason if isinstance(r, Refusal) else "registered" for r in results))

    assert outcomes == [["open", "open", "open", "registered"]] * 100
    assert len(await nodes[0].list(limit=1000)) == 100


async def test_each_attempt_is_dialled_by_one_node(nodes: list[CallbackStore]) -> None:
    """50 callbacks; for each, 4 nodes race to hold and dial it, twice (the retry too)."""
    ids = [(await registered(nodes[0], request(f"+34600{n:06d}"))).id for n in range(50)]
    clock = clock_of(nodes[0])
    clock.advance(POLICY.initial_delay)
    dialled = []
    for id in ids:
        attempts = await asyncio.gather(*(dial(node, id) for node in nodes))
        dialled.append(sorted(attempts, key=str))
        (winner,) = (node for node, attempt in zip(nodes, attempts, strict=True) if attempt)
        await winner.finish_attempt(id, 1, False, "no answer")
    clock.advance(POLICY.retry_delay)
    for id in ids:
        dialled.append(sorted(await asyncio.gather(*(dial(node, id) for node in nodes)), key=str))

    assert dialled == [[1, None, None, None]] * 50 + [[2, None, None, None]] * 50


async def test_a_failed_attempt_is_retried_after_the_delay_then_exhausted(store: CallbackStore) -> None:
    clock = clock_of(store)
    callback = await registered(store)
    assert not await store.hold(callback.id)
    clock.advance(60)
    assert await dial(store, callback.id) == 1
    assert (await store.dialing_of_this_node())[0].node == "a"

    retry = await store.finish_attempt(callback.id, 1, False, "busy")
    too_soon = await store.hold(callback.id)
    clock.advance(299)
    still_too_soon = await store.hold(callback.id)
    clock.advance(1)
    second = await dial(store, callback.id)
    last = await store.finish_attempt(callback.id, 2, False, "no answer")

    assert (retry.state, retry.attempts, retry.node, retry.reason) == (CallbackState.PENDING, 1, "", "busy")
    assert retry.not_before == NOON + timedelta(seconds=60 + 300)
    assert (too_soon, still_too_soon, second) == (False, False, 2)
    assert (last.state, last.attempts, last.reason) == (CallbackState.EXHAUSTED, 2, "no answer")
    assert await store.get(callback.id) == last
    assert await store.open_in() == []
    assert await store.dialing_of_this_node() == []


async def test_a_completed_attempt_completes_the_callback(store: CallbackStore) -> None:
    callback = await registered(store, policy=RetryPolicy())
    assert await dial(store, callback.id) == 1

    done = await store.finish_attempt(callback.id, 1, True, "answered by ana")

    assert (done.state, done.attempts, done.reason) == (CallbackState.COMPLETED, 1, "answered by ana")
    assert await store.get(callback.id) == done


async def test_a_late_or_repeated_finish_changes_nothing(store: CallbackStore) -> None:
    callback = await registered(store, policy=RetryPolicy(retry_delay=0))
    assert await dial(store, callback.id) == 1
    await store.finish_attempt(callback.id, 1, False, "busy")
    assert await dial(store, callback.id) == 2
    dialing = await store.get(callback.id)

    late = await store.finish_attempt(callback.id, 1, True, "late answer of attempt 1")
    done = await store.finish_attempt(callback.id, 2, True, "answered")
    repeated = await store.finish_attempt(callback.id, 2, False, "hung up")

    assert late == dialing
    assert (done.state, done.reason) == (CallbackState.COMPLETED, "answered")
    assert repeated == done == await store.get(callback.id)
    with pytest.raises(UnknownCallback, match="callback nope: not stored, its attempt 1 cannot end"):
        await store.finish_attempt("nope", 1, True, "")


async def test_a_hold_keeps_other_nodes_out_until_let_go_or_expired(store: CallbackStore) -> None:
    clock = clock_of(store)
    b = CallbackStore(store.engine, "b", clock)
    callback = await registered(store, policy=RetryPolicy())

    assert await store.hold(callback.id)
    assert not await b.hold(callback.id)
    assert await b.start_attempt(callback.id) is None
    await store.let_go(callback.id)
    assert await b.hold(callback.id)
    clock.advance(LEASE_SECONDS - 1)
    await b.renew()
    clock.advance(LEASE_SECONDS - 1)
    assert not await store.hold(callback.id)
    clock.advance(2)
    assert await store.hold(callback.id)
    assert await store.start_attempt(callback.id) == 1
    assert await b.dialing_of_this_node() == []
    assert [c.id for c in await store.dialing_of_this_node()] == [callback.id]


async def test_only_pending_callbacks_are_cancelled_or_rescheduled(store: CallbackStore) -> None:
    clock = clock_of(store)
    dialing = await registered(store, request("+34600000001"), RetryPolicy())
    pending = await registered(store, request("+34600000002"), RetryPolicy())
    assert await dial(store, dialing.id) == 1
    assert await store.hold(pending.id)

    later = await store.reschedule(pending.id, NOON + timedelta(minutes=10))
    attempt_before = await store.start_attempt(pending.id)
    refused = await store.cancel(dialing.id, "by supervisor"), await store.reschedule(dialing.id, NOON)
    clock.advance(600)
    cancelled = await store.cancel(pending.id, "by supervisor")

    assert later is not None
    assert (later.not_before, later.node) == (NOON + timedelta(minutes=10), "")
    assert attempt_before is None
    assert refused == (None, None)
    assert cancelled is not None
    assert (cancelled.state, cancelled.reason) == (CallbackState.CANCELLED, "by supervisor")
    assert await store.reschedule(pending.id, NOON) is None
    assert await store.cancel(pending.id, "again") is None
    assert not await store.hold(pending.id)
    assert await store.list(state=CallbackState.CANCELLED) == [cancelled]


async def test_pending_callbacks_expire(store: CallbackStore) -> None:
    clock = clock_of(store)
    short = await registered(store, request("+34600000001"), RetryPolicy(expires_after=600))
    dialing = await registered(store, request("+34600000002"), RetryPolicy(expires_after=600))
    long = await registered(store, request("+34600000003"), RetryPolicy(expires_after=3600))
    assert await dial(store, dialing.id) == 1

    clock.advance(599)
    none_yet = await store.expire()
    clock.advance(1)
    expired = await store.expire()

    assert none_yet == []
    assert [(c.id, c.state, c.reason) for c in expired] == [(short.id, CallbackState.EXPIRED, "expired")]
    assert await store.expire() == []
    assert {c.id for c in await store.open_in()} == {dialing.id, long.id}
    assert await store.list(state=CallbackState.EXPIRED) == expired


async def test_the_line_is_in_order_of_priority_then_arrival(store: CallbackStore) -> None:
    def at(number: str, priority: int, minutes: int) -> NewCallback:
        return replace(request(number), priority=priority, arrived_at=NOON - timedelta(minutes=minutes))

    late_urgent = await registered(store, at("+34600000001", 1, 1))
    early = await registered(store, at("+34600000002", 2, 9))
    late = await registered(store, at("+34600000003", 2, 2))
    await registered(store, replace(at("+34600000004", 0, 9), campaign="support"))

    assert await store.open_in("sales") == [late_urgent, early, late]
    assert len(await store.list("support")) == 1
    assert len(await store.list(limit=2)) == 2


async def test_migration_5_keeps_what_version_4_stored(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        assert await migrations.upgrade(engine) == 4
    async with engine.begin() as connection:
        await connection.execute(insert(own_agents).values(customer_id="1234", agent="ana", updated_at=NOON))
        before = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert callbacks.name not in before

    assert await migrations.upgrade(engine) == len(migrations.MIGRATIONS)
    async with engine.connect() as connection:
        versions = (await connection.execute(select(migrations.schema.schema_version.c.version))).scalars().all()

    assert sorted(versions) == list(range(1, len(migrations.MIGRATIONS) + 1))
    assert await OwnAgents(engine).of("1234") == "ana"
    assert isinstance(await CallbackStore(engine, "a").register(request(), POLICY, LIMITS), Callback)


async def test_an_attempt_whose_node_stopped_renewing_ends_as_failed(store: CallbackStore) -> None:
    clock = clock_of(store)
    other = CallbackStore(store.engine, "b", clock)
    callback = await registered(store, policy=RetryPolicy(max_attempts=2))
    assert await store.hold(callback.id) and await store.start_attempt(callback.id) == 1

    clock.advance(LEASE_SECONDS - 1)
    assert await other.abandoned_attempts() == []
    clock.advance(2)
    [ended] = await other.abandoned_attempts()
    assert ended.state is CallbackState.PENDING and ended.attempts == 1
    assert ended.reason == "app node a stopped during the attempt"
    assert await other.abandoned_attempts() == []
