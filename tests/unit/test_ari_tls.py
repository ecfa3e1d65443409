"""ARI over TLS: the REST client and the event websocket verify Asterisk's certificate against the
CA file, and a certificate that does not verify is an AriTlsError saying what to change."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ivr.ari.events import EventStream
from ivr.ari.http import HttpClient
from ivr.ari.tls import AriTlsError, ca_file, client_tls
from ivr.pbx.tls_cert import CA, ensure_certificate
from ivr.settings import Settings


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A server certificate for 127.0.0.1 and one for localhost only, each with its own CA."""
    made = {}
    for name, hosts in (("loopback", ["127.0.0.1"]), ("named", ["localhost"])):
        folder = tmp_path_factory.mktemp(name)
        cert, key = ensure_certificate(folder, hosts)
        made |= {f"{name}-cert": cert, f"{name}-key": key, f"{name}-ca": folder / CA}
    return made


def server_context(certificates: dict[str, Path], name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates[f"{name}-cert"], certificates[f"{name}-key"])
    return context


@asynccontextmanager
async def https_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await listener.wait_closed()


async def test_https_requests_go_through_when_the_certificate_verifies(certificates: dict[str, Path]) -> None:
    async with https_server(server_context(certificates, "loopback")) as port:
        url = f"https://127.0.0.1:{port}/ari"
        client = HttpClient(url, {}, 2.0, client_tls(url, certificates["loopback-ca"]))
        assert await client.request("GET", "/asterisk/info") == (200, b"{}")
        await client.aclose()


async def test_a_certificate_of_another_ca_is_refused_naming_the_ca_file(certificates: dict[str, Path]) -> None:
    async with https_server(server_context(certificates, "loopback")) as port:
        url = f"https://127.0.0.1:{port}/ari"
        client = HttpClient(url, {}, 2.0, client_tls(url, certificates["named-ca"]))
        with pytest.raises(AriTlsError, match=r"not signed by a trusted CA .*set ari.ca_file") as refused:
            await client.request("GET", "/asterisk/info")
        assert str(certificates["named-ca"]) in str(refused.value)


async def test_a_certificate_for_another_host_is_refused_as_such(certificates: dict[str, Path]) -> None:
    async with https_server(server_context(certificates, "named")) as port:
        url = f"https://127.0.0.1:{port}/ari"
        client = HttpClient(url, {}, 2.0, client_tls(url, certificates["named-ca"]))
        with pytest.raises(AriTlsError, match=r"not issued for this host .*127\.0\.0\.1"):
            await client.request("GET", "/asterisk/info")


async def test_the_event_websocket_speaks_wss_and_refuses_a_wrong_ca_at_once(
        certificates: dict[str, Path]) -> None:
    async def greet(socket: ServerConnection) -> None:
        await socket.send('{"type": "Hello"}')
        await socket.wait_closed()

    events: list[dict[str, object]] = []
    heard = asyncio.Event()

    def hear(event: dict[str, object]) -> None:
        events.append(event)
        heard.set()

    async def nothing() -> None:
        return None

    async with serve(greet, "127.0.0.1", 0, ssl=server_context(certificates, "loopback")) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"https://127.0.0.1:{port}"
        stream = EventStream(url, "ivr", "x", "ivr", on_event=hear, on_connected=nothing,
                             tls=client_tls(url, certificates["loopback-ca"]))
        assert stream.url.startswith(f"wss://127.0.0.1:{port}/ari/events?")
        reader = asyncio.create_task(stream.run())
        async with asyncio.timeout(5):
            await heard.wait()
        await stream.close()
        await reader
        assert events == [{"type": "Hello"}]

        wrong = EventStream(url, "ivr", "x", "ivr", on_event=events.append, on_connected=nothing,
                            tls=client_tls(url, certificates["named-ca"]), startup_timeout=30)
        async with asyncio.timeout(5):
            with pytest.raises(AriTlsError, match="not signed by a trusted CA"):
                await wrong.run()


def test_a_ca_file_that_is_not_pem_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(AriTlsError, match=r"ari.ca_file .*ca.pem: cannot be read as PEM"):
        client_tls("https://pbx:8089", tmp_path / "ca.pem")
    with pytest.raises(AriTlsError, match="cannot be read"):
        client_tls("https://pbx:8089", tmp_path / "missing.pem")


def test_plain_http_has_no_tls_and_the_bundled_pbx_with_tls_trusts_its_own_ca(tmp_path: Path) -> None:
    assert client_tls("http://127.0.0.1:8088", None) is None
    bundled = Settings(state_dir=str(tmp_path), pbx={"tls": True, "tls_port": 8443})
    assert bundled.ari_url == "https://127.0.0.1:8443"
    assert ca_file(bundled) == tmp_path / "pbx" / "demo" / CA
    own = Settings(ari={"url": "https://pbx.example:8089", "ca_file": "/etc/ivr/ca.pem"})
    assert ca_file(own) == Path("/etc/ivr/ca.pem")
    assert ca_file(Settings(ari={"url": "https://pbx.example:8089"})) is None
