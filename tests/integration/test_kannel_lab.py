"""The Kannel lab against the real Kannel: messages out through sendsms, messages in through the get-url."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
import httpx
import pytest
from aiohttp import web

from tests.integration.kannel import KannelLab, until_async
from tests.ports import free_port

SECRET = "s3cret"


@dataclass
class Inbox:
    """A web server on 127.0.0.1 that records the get-url requests of Kannel, and their raw query."""

    get_url: str
    requests: list[dict[str, str]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    port = free_port()
    inbox = Inbox(f"http://127.0.0.1:{port}/sms/kannel?secret={SECRET}&from=%p&to=%P&text=%b"
                  "&coding=%c&charset=%C")

    async def receive(request: web.Request) -> web.Response:
        inbox.requests.append(dict(request.query))
        inbox.raw.append(request.rel_url.raw_query_string)
        return web.Response(text="Thanks: this answer must not go back as an SMS")

    app = web.Application()
    app.router.add_get("/sms/kannel", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield inbox
    await runner.cleanup()


@pytest.fixture
def kannel(inbox: Inbox, tmp_path: Path) -> Iterator[KannelLab]:
    with KannelLab(tmp_path, inbox.get_url) as lab:
        yield lab


def sendsms_query(lab: KannelLab, receiver: str, text: str, coding: int = 2) -> dict[str, str]:
    return {"username": lab.user, "password": lab.password, "from": "1234", "to": receiver,
            "text": text, "charset": "UTF-8", "coding": str(coding)}


async def sendsms(lab: KannelLab, receiver: str, text: str, coding: int = 2) -> None:
    query = sendsms_query(lab, receiver, text, coding)
    async with aiohttp.ClientSession() as session, session.get(lab.sendsms_url, params=query) as response:
        body = await response.text()
    assert response.status == 202, body


async def test_a_message_sent_through_sendsms_reaches_the_fake_smsc_intact(kannel: KannelLab) -> None:
    await sendsms(kannel, "+34600111222", "José Ñandú 5 €")

    sms = await kannel.wait_for_async(lambda sms: sms.receiver == "+34600111222")

    assert (sms.sender, sms.text) == ("1234", "José Ñandú 5 €")


async def test_a_7_bit_message_keeps_the_gsm_alphabet_and_loses_the_rest(kannel: KannelLab) -> None:
    await sendsms(kannel, "+34600111222", "José Ñ 5 €, tú", coding=0)

    sms = await kannel.wait_for_async(lambda sms: sms.receiver == "+34600111222")

    assert sms.text == "José Ñ 5 €, t?"


async def test_a_message_from_the_network_reaches_the_get_url_and_gets_no_reply(
        kannel: KannelLab, inbox: Inbox) -> None:
    text = "José Ñandú 5 €  a&b=c%20+d"

    await asyncio.to_thread(kannel.send, "+34600111222", "1234", text)

    await until_async(lambda: inbox.requests, 10, "the get-url request")
    assert inbox.requests == [{"secret": SECRET, "from": "+34600111222", "to": "1234", "text": text,
                               "coding": "0", "charset": "UTF-8"}]
    # smsbox logs the get-url's answer just before it would send it back as a reply, so a
    # message sent through sendsms after that line comes after any reply.
    await until_async(lambda: "SMS HTTP-request" in kannel.smsbox_access_log.read_text(), 10,
                      "smsbox to log the get-url's answer")
    await sendsms(kannel, "+34600999999", "marker")
    await kannel.wait_for_async(lambda sms: sms.text == "marker")
    assert [sms.text for sms in kannel.received()] == ["marker"]


def test_a_stopped_kannel_refuses_sendsms_and_a_restarted_one_delivers(kannel: KannelLab) -> None:
    kannel.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(kannel.sendsms_url)

    kannel.start()
    response = httpx.get(kannel.sendsms_url, params=sendsms_query(kannel, "+34600111222", "restarted"))
    assert response.status_code == 202, response.text
    kannel.wait_for(lambda sms: sms.text == "restarted")


async def test_a_ucs2_message_from_the_network_reaches_the_get_url_as_utf_16(
        kannel: KannelLab, inbox: Inbox) -> None:
    text = "José Ñandú 5 €\nsecond line"

    await asyncio.to_thread(kannel.send, "+34600111222", "1234", text, ucs2=True)

    await until_async(lambda: inbox.requests, 10, "the get-url request")
    assert (inbox.requests[0]["coding"], inbox.requests[0]["charset"]) == ("2", "UTF-16BE")
    raw_text = parse_qs(inbox.raw[0], encoding="latin-1")["text"][0]
    assert raw_text.encode("latin-1").decode("utf-16-be") == text
