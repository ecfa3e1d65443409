"""Pulled calls in the store, on SQLite and on PostgreSQL: the claim decides between staff
members replying at once through different app nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.store import migrations
from ivr.store.pulls import CLOSED, OPEN, TAKEN, Lost, PullStore, Which, Won


@pytest.fixture
async def nodes(engine: AsyncEngine) -> AsyncIterator[list[PullStore]]:
    """Two app nodes, each with its own connections, as separate processes would have."""
    await migrations.upgrade(engine)
    engines = [create_async_engine(engine.url) for _ in range(2)]
    yield [PullStore(e, f"node-{i}") for i, e in enumerate(engines)]
    for created in engines:
        await created.dispose()


async def test_of_claims_at_once_through_two_nodes_exactly_one_wins(nodes: list[PullStore]) -> None:
    a, b = nodes
    for round in range(20):
        code = await a.open(f"c{round}", "sales", "+34915550000", "Ana", "Madrid")
        results = await asyncio.gather(a.claim(code, ["sales"], "ana", "take", "sms"),
                                       b.claim(code, ["sales"], "bo", "take", "sms"))
        won = [r for r in results if isinstance(r, Won)]
        lost = [r for r in results if isinstance(r, Lost)]
        assert len(won) == 1 and len(lost) == 1
        assert lost[0].call is not None and lost[0].call.taker == won[0].call.taker
    assert len(await a.claimed()) == 20
    assert await a.claimed() == [] and await b.claimed() == []


async def test_a_claim_is_carried_out_by_the_node_holding_the_caller(nodes: list[PullStore]) -> None:
    a, b = nodes
    code = await a.open("c1", "sales", "+34915550000", "", "")
    won = await b.claim(code, ["sales"], "bo", "voicemail", "sms")
    assert isinstance(won, Won) and won.call.node == "node-0" and won.call.state == TAKEN
    assert await b.claimed() == []
    [claimed] = await a.claimed()
    assert (claimed.code, claimed.taker, claimed.action, claimed.via) == (code, "bo", "voicemail", "sms")


async def test_reopened_calls_can_be_claimed_again_and_closed_ones_never(nodes: list[PullStore]) -> None:
    a, _ = nodes
    code = await a.open("c1", "sales", "", "", "")
    assert isinstance(await a.claim(code, ["sales"], "ana", "take", "sms"), Won)
    await a.reopen(code)
    assert (await a.get(code)).state == OPEN  # type: ignore[union-attr]
    assert isinstance(await a.claim(code, ["sales"], "bo", "take", "api"), Won)
    await a.close(code, "the caller hung up")
    lost = await a.claim(code, ["sales"], "cy", "take", "sms")
    assert isinstance(lost, Lost) and lost.call is not None
    assert (lost.call.state, lost.call.outcome, lost.call.taker) == (CLOSED, "the caller hung up", "bo")


async def test_a_claim_outside_the_claimants_campaigns_finds_nothing(nodes: list[PullStore]) -> None:
    a, _ = nodes
    code = await a.open("c1", "sales", "", "", "")
    assert await a.claim(code, ["support"], "ana", "take", "sms") == Lost(None)
    assert await a.claim(code + 1000, ["sales"], "ana", "take", "sms") == Lost(None)
    assert (await a.get(code)).state == OPEN  # type: ignore[union-attr]


async def test_without_a_code_the_only_open_call_is_claimed(nodes: list[PullStore]) -> None:
    a, _ = nodes
    assert await a.claim(None, ["sales"], "ana", "take", "sms") == Which(())
    first = await a.open("c1", "sales", "", "", "")
    second = await a.open("c2", "sales", "", "", "")
    assert await a.claim(None, ["sales"], "ana", "take", "sms") == Which((first, second))
    await a.close(first, "the caller hung up")
    won = await a.claim(None, ["sales"], "ana", "take", "sms")
    assert isinstance(won, Won) and won.call.code == second


async def test_a_restarted_node_closes_what_its_earlier_run_left(nodes: list[PullStore]) -> None:
    a, b = nodes
    mine = await a.open("c1", "sales", "", "", "")
    theirs = await b.open("c2", "sales", "", "", "")
    assert await a.close_all("the app restarted") == 1
    assert [call.code for call in await a.list(["sales"])] == [theirs]
    assert (await a.get(mine)).outcome == "the app restarted"  # type: ignore[union-attr]


async def test_opt_outs_are_kept_per_number(nodes: list[PullStore]) -> None:
    a, b = nodes
    await a.opt_out("+34600000001")
    await a.opt_out("+34600000001")
    assert await b.opted_out(["+34600000001", "+34600000002"]) == {"+34600000001"}
    await b.opt_in("+34600000001")
    assert await a.opted_out(["+34600000001"]) == set()


async def test_the_pulled_calls_of_callers_a_dead_node_lost_are_closed_by_another(nodes: list[PullStore]) -> None:
    a, b = nodes
    lost, kept = await b.open("b1", "sales", "", "", ""), await b.open("b2", "sales", "", "", "")
    assert await a.close_calls(["b1"], "app stopped during the call") == 1
    closed = await a.get(lost)
    assert closed is not None and (closed.state, closed.outcome) == (CLOSED, "app stopped during the call")
    assert isinstance(await a.claim(lost, ["sales"], "ana", "take", "sms"), Lost)
    assert (await a.get(kept)).state == OPEN  # type: ignore[union-attr]
