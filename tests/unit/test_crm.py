"""The OMniLeads CRM protocol, the circuit breaker, and the client against a real HTTP server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.core.crm_answer import Identified, Interaction, NotIdentified, Routed, Unavailable
from ivr.crm.breaker import CircuitBreaker
from ivr.crm.client import CrmClient, CrmQuery, new_http_client
from ivr.crm.protocol import parse_answer
from tests.ports import free_port
from tests.unit.fake_crm import CrmHandler, FakeCrm

DEST, TF = Interaction.DESTINATION, Interaction.TRUE_FALSE


@pytest.mark.parametrize(("body", "interaction", "expected"), [
    (b'{"status": "ok", "destination": "1,3"}', DEST, Routed(1, 3)),
    (b'{"status": "ok", "destination": "9,12"}', DEST, Routed(9, 12)),
    (b'{"status": "ok", "destination": "false"}', DEST, NotIdentified()),
    (b'{"status": "ok", "destination": "true"}', TF, Identified()),
    (b'{"status": "ok", "destination": "false"}', TF, NotIdentified()),
    (b'{"status": "ok", "destination": "1,3", "variables": {"name": "Ana", "vip_level": "2"}}', DEST,
     Routed(1, 3, (("name", "Ana"), ("vip_level", "2")))),
    (b'{"status": "ok", "destination": "true", "variables": {}}', TF, Identified()),
])
def test_answers_a_crm_may_give(body: bytes, interaction: Interaction, expected: object) -> None:
    assert parse_answer(body, interaction) == expected


@pytest.mark.parametrize(("body", "interaction", "reason"), [
    (b"<html>", DEST, "answer: not JSON"),
    (b"\xff\xfe", DEST, "answer: starts with a byte-order mark"),
    (b'\xef\xbb\xbf{"status": "ok", "destination": "1,3"}', DEST, "answer: starts with a byte-order mark"),
    (b'{"status": "ok", "destination": "1,3", "destination": "5,1"}', DEST, "answer: duplicate key 'destination'"),
    (b'{"status": "ok", "status": "ok", "destination": "1,3"}', DEST, "answer: duplicate key 'status'"),
    (b'{"status": "ok", "destination": "true", "variables": {"a": "1", "a": "2"}}', TF, "answer: duplicate key 'a'"),
    (b'{"status": "ok", "destination": ' + b"[" * 5000 + b"]" * 5000 + b"}", DEST, "answer: nested deeper than 32 levels"),
    (b'{"status": "ok", "destination": "1,3", "n": 1e999999}', DEST, "answer: number out of range"),
    (b'{"status": "ok", "destination": "1,3", "n": ' + b"1" * 50_000 + b"}", DEST, "answer: a number of 50000 digits"),
    (b'{"status": "ok", "destination": "1,3\xff"}', DEST, "answer: not valid UTF-8 at byte 36"),
    (b"", DEST, "answer: empty"),
    (b'["ok"]', DEST, "JSON is not an object"),
    (b'{"status": "OK", "destination": "1,3"}', DEST, 'status must be "ok" or "fail"'),
    (b'{"destination": "1,3"}', DEST, 'status must be "ok" or "fail", got None'),
    (b'{"status": "fail", "destination": "1,3"}', DEST, 'CRM answered status "fail"'),
    (b'{"status": "ok", "destination": 13}', DEST, "destination must be a string, got 13"),
    (b'{"status": "ok", "destination": "1, 3"}', DEST, 'destination must be "X,Y" or "false"'),
    (b'{"status": "ok", "destination": "1,3;Dial(PJSIP/x)"}', DEST, 'destination must be "X,Y"'),
    (b'{"status": "ok", "destination": "-1,3"}', DEST, 'destination must be "X,Y"'),
    (b'{"status": "ok", "destination": "1,3\\n"}', DEST, 'destination must be "X,Y"'),
    (b'{"status": "ok", "destination": "true"}', DEST, 'destination must be "X,Y" or "false"'),
    (b'{"status": "ok", "destination": "1,3"}', TF, 'destination must be "true" or "false"'),
    (b'{"status": "ok", "destination": "True"}', TF, 'destination must be "true" or "false"'),
    (b'{"status": "ok", "destination": "true", "variables": ["a"]}', TF, "variables must be an object"),
    (b'{"status": "ok", "destination": "true", "variables": {"a-b": "1"}}', TF, "variable name 'a-b'"),
    (b'{"status": "ok", "destination": "true", "variables": {"a": 1}}', TF, "variable a: expected"),
    (b'{"status": "ok", "destination": "true", "variables": {"a\\n": "1"}}', TF, "variable name 'a\\n'"),
    (b'{"status": "ok", "destination": "true", "variables": {"a": "x\\ny"}}', TF, "variable a: expected"),
    (b'{"status": "ok", "destination": "true", "variables": {"a": "' + b"x" * 201 + b'"}}', TF,
     "variable a: expected"),
])
def test_anything_else_is_unavailable_with_its_reason(body: bytes, interaction: Interaction,
                                                      reason: str) -> None:
    answer = parse_answer(body, interaction)

    assert isinstance(answer, Unavailable) and answer.reason.startswith(reason), answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_and_tries_once_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    for _ in range(3):
        assert breaker.allows()
        breaker.failed()

    assert not breaker.allows()
    clock.now += 30
    assert breaker.allows()
    breaker.failed()
    assert not breaker.allows()
    clock.now += 30
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.allows() and breaker.failures == 0


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    CrmHandler.seen.clear()
    server = FakeCrm()
    yield server
    server.close()


@pytest.fixture
async def client() -> AsyncIterator[CrmClient]:
    http = new_http_client()
    yield CrmClient(http, deadline=1.0, breaker=CircuitBreaker(5, 30, time.monotonic))
    await http.close()


def query(url: str, interaction: Interaction = DEST) -> CrmQuery:
    return CrmQuery(url=url, customer_id="30565584", interaction=interaction)


async def test_the_request_is_what_omnileads_sends(crm: FakeCrm, client: CrmClient) -> None:
    result = await client.ask(query(f"{crm.url}/gold"))

    assert result.answer == Routed(1, 3)
    path, headers, body = CrmHandler.seen[0]
    assert path == "/gold"
    assert body == b"idContact=30565584"
    assert headers["User-Agent"] == "OMniLeads"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_the_requests_shown_in_the_docs_are_the_ones_sent(crm: FakeCrm, client: CrmClient) -> None:
    """docs/flows.md once showed a ``Connection`` header that is never sent."""
    docs = (Path(__file__).parents[2] / "docs" / "flows.md").read_text()
    shown = [block.split("\n\n")[0].splitlines()[1:] for block in docs.split("```\nPOST /ivr/identify")[1:]]
    await client.ask(query(f"{crm.url}/gold"))
    await client.ask(CrmQuery(url=f"{crm.url}/gold", customer_id="30565584", interaction=DEST,
                              extras=(("callerId", "600111222"), ("did", "+34910000000")),
                              authorization="Bearer s3cret"))

    for (_, headers, _), lines in zip(CrmHandler.seen, shown, strict=True):
        sent = [f"{name}: {value}" for name, value in headers.items() if name != "Host"]
        assert sent == [line for line in lines if not line.startswith("Host:")]


@pytest.mark.parametrize(("path", "reason"), [
    ("/slow", "no complete answer within 1 s"),
    ("/drip", "no complete answer within 1 s"),
    ("/error", "HTTP 503"),
    ("/redirect", "HTTP 302 (redirects are not followed)"),
    ("/garbage", "answer: not JSON"),
    ("/huge", "answer larger than 65536 bytes"),
    ("/deep", "answer: nested deeper than 32 levels"),
])
async def test_every_failure_is_unavailable_with_its_reason(crm: FakeCrm, client: CrmClient,
                                                            path: str, reason: str) -> None:
    result = await client.ask(query(f"{crm.url}{path}"))

    assert isinstance(result.answer, Unavailable) and result.answer.reason.startswith(reason)


async def test_a_deeply_nested_answer_is_a_failure_the_breaker_counts_timed_for_real(crm: FakeCrm) -> None:
    async with new_http_client() as http:
        client = CrmClient(http, deadline=1.0, breaker=CircuitBreaker(2, 60, time.monotonic))
        first = await client.ask(query(f"{crm.url}/deep?0.05"))
        await client.ask(query(f"{crm.url}/deep"))
        skipped = await client.ask(query(f"{crm.url}/gold"))

    assert first.answer == Unavailable("answer: nested deeper than 32 levels")
    assert first.seconds >= 0.05
    assert skipped.answer == Unavailable("circuit open after repeated CRM failures")


async def test_a_refused_connection_is_unavailable(client: CrmClient) -> None:
    result = await client.ask(query(f"http://127.0.0.1:{free_port()}/crm"))

    assert isinstance(result.answer, Unavailable)
    assert result.answer.reason.startswith("cannot connect")


async def test_tls_is_verified_and_its_failure_named(crm: FakeCrm, client: CrmClient) -> None:
    result = await client.ask(query(crm.url.replace("http://", "https://") + "/gold"))

    assert isinstance(result.answer, Unavailable)
    assert result.answer.reason.startswith("TLS:")


async def test_the_breaker_skips_a_failing_crm(crm: FakeCrm) -> None:
    async with new_http_client() as http:
        client = CrmClient(http, deadline=1.0, breaker=CircuitBreaker(2, 60, time.monotonic))
        for _ in range(2):
            await client.ask(query(f"{crm.url}/error"))
        requests_before = len(CrmHandler.seen)
        result = await client.ask(query(f"{crm.url}/gold"))

    assert result.answer == Unavailable("circuit open after repeated CRM failures")
    assert len(CrmHandler.seen) == requests_before
