"""Claims on agents between app nodes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.store.claims import LEASE_SECONDS, AgentClaims, Place
from ivr.store.migrations import upgrade

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_nodes_racing_for_one_agent_get_it_once(engine: AsyncEngine) -> None:
    """Each node has its own connections, as separate processes would; 300 races as measured
    for SKIP LOCKED, each among 4 nodes, half for an agent never claimed, half for one that was."""
    await upgrade(engine)
    engines = [create_async_engine(engine.url) for _ in range(4)]
    nodes = [AgentClaims(e, f"node-{i}") for i, e in enumerate(engines)]
    try:
        doubles = 0
        for race in range(300):
            agent = f"agent-{race}"
            if race % 2:
                assert await nodes[0].claim(agent, "before")
                await nodes[0].release(agent, "before")
            won = await asyncio.gather(*(node.claim(agent, f"offer-{race}") for node in nodes))
            doubles += sum(won) != 1
    finally:
        for created in engines:
            await created.dispose()
    assert doubles == 0


async def test_a_held_agent_is_free_again_once_the_offer_is_released(engine: AsyncEngine) -> None:
    await upgrade(engine)
    a, b = AgentClaims(engine, "a"), AgentClaims(engine, "b")

    assert await a.claim("ana", "call-1-agent-1")
    assert not await b.claim("ana", "call-2-agent-2")
    await a.release("ana", "call-1-agent-1")
    assert await b.claim("ana", "call-2-agent-2")


async def test_a_late_release_of_an_earlier_offer_keeps_the_later_one(engine: AsyncEngine) -> None:
    await upgrade(engine)
    a, b = AgentClaims(engine, "a"), AgentClaims(engine, "b")

    assert await a.claim("ana", "first")
    assert await a.claim("ana", "second")
    await a.release("ana", "first")

    assert not await b.claim("ana", "other")


async def test_claims_of_a_node_that_stopped_renewing_expire(engine: AsyncEngine) -> None:
    await upgrade(engine)
    now = [NOON]
    a, b = AgentClaims(engine, "a", lambda: now[0]), AgentClaims(engine, "b", lambda: now[0])
    assert await a.claim("ana", "one")
    assert await a.claim("bo", "two")

    now[0] = NOON + timedelta(seconds=LEASE_SECONDS - 1)
    await a.renew()
    now[0] = NOON + timedelta(seconds=LEASE_SECONDS + 1)
    assert not await b.claim("ana", "three")

    now[0] = NOON + timedelta(seconds=2 * LEASE_SECONDS)
    assert await b.claim("ana", "three")


async def test_a_restarted_node_lets_go_of_what_it_held(engine: AsyncEngine) -> None:
    await upgrade(engine)
    a, b = AgentClaims(engine, "a"), AgentClaims(engine, "b")
    assert await a.claim("ana", "one")

    await AgentClaims(engine, "a").release_all()

    assert await b.claim("ana", "two")


async def test_a_claim_waits_for_an_earlier_caller_of_the_campaign_on_another_node(engine: AsyncEngine) -> None:
    """One line across nodes: by priority, then arrival; other campaigns and this node's own
    callers do not hold a claim back."""
    await upgrade(engine)
    now = [NOON]
    a, b = AgentClaims(engine, "a", lambda: now[0]), AgentClaims(engine, "b", lambda: now[0])
    await b.joined("b-early", Place("sales", 5, NOON - timedelta(seconds=3)))
    await b.joined("b-other", Place("support", 5, NOON - timedelta(seconds=30)))
    await a.joined("a-late", Place("sales", 5, NOON - timedelta(seconds=1)))

    assert not await a.claim("ana", "a-late-agent-1", Place("sales", 5, NOON - timedelta(seconds=1)))
    assert await a.claim("ana", "a-urgent-agent-1", Place("sales", 1, NOON))
    await a.release("ana", "a-urgent-agent-1")
    assert await b.claim("ana", "b-early-agent-1", Place("sales", 5, NOON - timedelta(seconds=3)))
    await b.release("ana", "b-early-agent-1")

    await b.left("b-early")
    assert await a.claim("ana", "a-late-agent-2", Place("sales", 5, NOON - timedelta(seconds=1)))


async def test_the_callers_of_a_node_that_stopped_renewing_hold_nobody_back(engine: AsyncEngine) -> None:
    await upgrade(engine)
    now = [NOON]
    a, b = AgentClaims(engine, "a", lambda: now[0]), AgentClaims(engine, "b", lambda: now[0])
    await b.joined("b-early", Place("sales", 5, NOON - timedelta(seconds=3)))
    place = Place("sales", 5, NOON)

    now[0] = NOON + timedelta(seconds=LEASE_SECONDS - 1)
    await b.renew()
    now[0] = NOON + timedelta(seconds=LEASE_SECONDS + 1)
    assert not await a.claim("ana", "one", place)
    now[0] = NOON + timedelta(seconds=2 * LEASE_SECONDS)
    assert await a.claim("ana", "one", place)

    await b.joined("b-again", Place("sales", 5, NOON - timedelta(seconds=9)))
    await AgentClaims(engine, "b", lambda: now[0]).release_all()  # b restarted
    await a.release("ana", "one")
    assert await a.claim("ana", "two", place)
