"""The plain HTTP/1.1 client of ARI against a raw server on 127.0.0.1 that can misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from ivr.ari.http import HttpClient, HttpError

Reply = Callable[[bytes], bytes | None]
"""The request's head -> the bytes to answer (None: close the connection without answering)."""


def ok(body: bytes = b'{"ok":1}', extra: str = "") -> Reply:
    return lambda head: (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)


class Server:
    def __init__(self, reply: Reply, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer = self.reply(head)
                if answer is None:
                    break
                writer.write(answer)
                if self.close_after:
                    await writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(reply: Reply, timeout: float = 2.0,
                  close_after: bool = False) -> AsyncIterator[tuple[Server, HttpClient]]:
    server = Server(reply, close_after)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}/ari", {"Authorization": "Basic eDp5"}, timeout)
    try:
        yield server, client
    finally:
        await client.aclose()
        listener.close()
        for writer in server.writers:
            writer.close()
        await listener.wait_closed()


async def test_requests_go_in_one_piece_on_a_kept_connection() -> None:
    async with serving(ok()) as (server, client):
        first = await client.request("POST", "/channels/c1/variable", {"variable": "A", "value": "x y"})
        second = await client.request("POST", "/channels", None, b'{"variables":{}}')

    assert first == second == (200, b'{"ok":1}')
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /ari/channels/c1/variable?variable=A&value=x%20y HTTP/1.1\r\n")
    assert b"Authorization: Basic eDp5\r\n" in server.requests[0]
    assert server.requests[1].endswith(b'Content-Length: 16\r\n\r\n{"variables":{}}')


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_again() -> None:
    async with serving(ok()) as (server, client):
        await client.request("GET", "/asterisk/info")
        for writer in server.writers:
            writer.close()
        await asyncio.sleep(0.05)
        answer = await client.request("GET", "/asterisk/info")

    assert answer == (200, b'{"ok":1}')
    assert server.connections == 2


async def test_a_server_that_says_close_gets_a_new_connection_each_time() -> None:
    async with serving(ok(extra="Connection: close\r\n")) as (server, client):
        await client.request("GET", "/a")
        await client.request("GET", "/b")

    assert server.connections == 2


async def test_no_answer_on_a_new_connection_is_an_error() -> None:
    async with serving(lambda head: None) as (_, client):
        with pytest.raises(ConnectionResetError, match="closed the connection"):
            await client.request("GET", "/a")


@pytest.mark.parametrize(("answer", "error"), [
    (b"garbage\r\n\r\n", "not an HTTP status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "cut short"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "transfer-encoding chunked"),
])
async def test_an_answer_that_is_not_http_names_what_is_wrong(answer: bytes, error: str) -> None:
    async with serving(lambda head: answer, close_after=True) as (_, client):
        with pytest.raises(HttpError, match=error):
            await client.request("GET", "/a")


async def test_a_server_that_never_answers_times_out() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    client = HttpClient(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}", {}, 0.2)
    try:
        with pytest.raises(TimeoutError):
            await client.request("GET", "/a")
    finally:
        await client.aclose()
        listener.close()
        for writer in writers:
            writer.close()
        await listener.wait_closed()
