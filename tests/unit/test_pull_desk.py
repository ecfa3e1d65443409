"""Staff replies read and answered, against the real store on SQLite: who the sender is, what the
reply asks, and what they are told back. The SMS gateway is a list of what was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.api.pull import PullDesk
from ivr.core.destinations import Destination
from ivr.core.flow import Flow
from ivr.core.flow_tables import Agent
from ivr.core.nodes import Campaign, Node
from ivr.sms.gateway import InboundSms
from ivr.store import migrations
from ivr.store.pulls import TAKEN, PullStore

ANA, BO, STRANGER = "+34600000001", "+34600000002", "+34699999999"


class Sent:
    name = "test"

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    async def send(self, to: str, text: str) -> None:
        self.texts.append((to, text))


class Desk:
    def __init__(self, store: PullStore, **campaign: object) -> None:
        nodes: dict[Destination, Node] = {
            Destination("campaign", "front"): Campaign.model_validate(
                {"agents": ("ana", "bo"), "mode": "pull", **campaign}),
            Destination("campaign", "back"): Campaign.model_validate({"agents": ("bo",), "mode": "pull"})}
        agents = {"ana": Agent(phone="register", mobile=ANA, name="Ana García"),
                  "bo": Agent(phone="register", mobile=BO)}
        self.flow = Flow(nodes, {}, agents=agents)
        self.sms = Sent()
        self.pokes = 0
        self.store = store
        self.desk = PullDesk(store, lambda: self.flow, self.sms, self._poke)

    def _poke(self) -> None:
        self.pokes += 1

    async def reply(self, sender: str, text: str) -> list[str]:
        before = len(self.sms.texts)
        await self.desk.on_sms(InboundSms(sender, text))
        return [text for _, text in self.sms.texts[before:]]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[PullStore]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ivr.sqlite3'}")
    await migrations.upgrade(engine)
    yield PullStore(engine, "ivr")
    await engine.dispose()


async def test_the_first_reply_wins_and_the_next_is_told_who_took_the_call(store: PullStore) -> None:
    desk = Desk(store)
    code = await store.open("c1", "front", "+34915550000", "", "")

    assert await desk.reply("0034600000001", f"{code} t") == []
    assert desk.pokes == 1
    assert await desk.reply(BO, f"T {code}") == [f"Call {code} was already taken by Ana García."]
    call = await store.get(code)
    assert call is not None and (call.state, call.taker, call.via) == (TAKEN, "ana", "sms")


async def test_a_reply_about_a_caller_who_hung_up_says_so(store: PullStore) -> None:
    desk = Desk(store)
    code = await store.open("c1", "front", "", "", "")
    await store.close(code, "the caller hung up")

    assert await desk.reply(ANA, f"{code} T") == [f"Call {code}: the caller hung up."]
    assert await desk.reply(ANA, "424242 T") == ["No call 424242 is open for you."]


async def test_a_reply_without_a_code_takes_the_only_open_call_or_asks_which(store: PullStore) -> None:
    desk = Desk(store)
    assert await desk.reply(ANA, "T") == ["No call is open for you."]
    first = await store.open("c1", "front", "", "", "")
    second = await store.open("c2", "front", "", "", "")
    assert await desk.reply(ANA, "t") == [f"Calls {first}, {second} are open: reply with the code, e.g. {first} T."]
    await store.close(first, "the caller hung up")
    assert await desk.reply(ANA, "t") == []
    assert (await store.get(second)).taker == "ana"  # type: ignore[union-attr]


async def test_a_call_of_a_campaign_the_sender_is_not_staff_of_is_unknown_to_them(store: PullStore) -> None:
    desk = Desk(store)
    code = await store.open("c1", "back", "", "", "")
    assert await desk.reply(ANA, f"{code} T") == [f"No call {code} is open for you."]
    assert await desk.reply(BO, f"{code} T") == []


async def test_voicemail_is_refused_where_no_campaign_has_a_box(store: PullStore) -> None:
    desk = Desk(store)
    code = await store.open("c1", "front", "", "", "")
    assert await desk.reply(ANA, f"{code} V") == [f"Call {code} cannot go to voicemail: this campaign has none."]
    assert (await store.get(code)).state == "open"  # type: ignore[union-attr]


async def test_the_campaigns_own_words_are_the_commands(store: PullStore) -> None:
    desk = Desk(store, take_words=("Yes",), voicemail_words=("No",))
    code = await store.open("c1", "front", "", "", "")
    assert await desk.reply(ANA, f"{code} T") == []
    assert (await store.get(code)).state == "open"  # type: ignore[union-attr]
    assert await desk.reply(ANA, "yes") == []
    assert (await store.get(code)).action == "take"  # type: ignore[union-attr]


async def test_stop_ends_notifications_start_brings_them_back_and_neither_is_a_command(
        store: PullStore) -> None:
    desk = Desk(store, take_words=("Yes",))
    code = await store.open("c1", "front", "", "", "")

    assert await desk.reply(ANA, "STOP") == [
        "You will get no more call notifications. Reply START to get them again."]
    assert await store.opted_out([ANA]) == {ANA}
    assert await desk.reply(ANA, " Start ") == ["Call notifications are on again."]
    assert await store.opted_out([ANA]) == set()
    assert (await desk.reply(ANA, "help"))[0].startswith("Reply <code> YES to take a waiting call")
    assert (await store.get(code)).state == "open"  # type: ignore[union-attr]


async def test_strangers_and_unreadable_replies_are_logged_and_ignored(
        store: PullStore, caplog: pytest.LogCaptureFixture) -> None:
    desk = Desk(store)
    code = await store.open("c1", "front", "", "", "")

    assert await desk.reply(STRANGER, f"{code} T") == []
    assert await desk.reply(ANA, f"{code} T please") == []
    assert await desk.reply(ANA, "¿qué?") == []
    assert (await store.get(code)).state == "open"  # type: ignore[union-attr]
    assert f"SMS from {STRANGER} ignored: no agent has that mobile" in caplog.text
    assert "SMS from agent ana ignored" in caplog.text
