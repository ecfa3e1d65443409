"""HTTP/1.1 to Asterisk's own HTTP server, and nothing more: kept-alive connections, a request
written in one piece, an answer read by its Content-Length.

A call makes some twenty ARI requests; through aiohttp each cost about 0.45 ms of the app's CPU,
half of all the app spent on a call (docs/decisions.md, "HTTP clients"). Asterisk answers every
request with a Content-Length and no chunked body, so the client needs no more than this.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from ivr.ari.tls import AriTls

CONNECTIONS = 64
"""Requests under way at once, each on its own connection (Asterisk's http.conf allows 100
sessions by default, the event websocket and other clients included); more wait their turn."""


class HttpError(OSError):
    """The server's answer cannot be read as HTTP."""


def target(path: str, params: dict[str, object] | None) -> str:
    """The request target, each query value percent-encoded.

    >>> target("/ari/channels/1.2/variable", {"variable": "IVR_A", "value": "a b&c"})
    '/ari/channels/1.2/variable?variable=IVR_A&value=a%20b%26c'
    """
    if not params:
        return path
    return path + "?" + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}"
                                 for k, v in params.items())


class HttpClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float,
                 tls: AriTls | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        if (parts.scheme == "https") != (tls is not None):
            raise ValueError(f"{base_url!r}: TLS settings are for https:// URLs, and needed by them")
        self.host, self.port = parts.hostname, parts.port or (443 if tls else 80)
        self.base_url = base_url
        self._tls = tls
        self.prefix = parts.path.rstrip("/")
        fixed = {"Host": f"{self.host}:{self.port}", **headers}
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(CONNECTIONS)

    async def request(self, method: str, path: str, params: dict[str, object] | None = None,
                      body: bytes = b"", content_type: str = "application/json") -> tuple[int, bytes]:
        """The status and body of the answer; OSError (or TimeoutError) when there is none."""
        head = f"{method} {target(self.prefix + path, params)} HTTP/1.1\r\n{self._headers}"
        if body:
            head += f"Content-Type: {content_type}\r\n"
        message = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with asyncio.timeout(self.timeout), self._slots:
            while self._idle:
                # A kept connection the server has closed since (Asterisk closes idle ones
                # after session_keep_alive) fails before any answer: the request was not
                # carried out, so it goes again on another connection.
                connection = self._idle.pop()
                try:
                    return await self._exchange(connection, message)
                except _ClosedBeforeAnswer:
                    continue
            connection = await self._connect()
            try:
                return await self._exchange(connection, message)
            except _ClosedBeforeAnswer as exc:
                raise ConnectionResetError(f"{self.host}:{self.port} closed the connection") from exc

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._tls is None:
            return await asyncio.open_connection(self.host, self.port)
        try:
            return await asyncio.open_connection(self.host, self.port, ssl=self._tls.context,
                                                 server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            raise self._tls.refused(exc, self.base_url) from exc

    async def _exchange(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        message: bytes) -> tuple[int, bytes]:
        reader, writer = connection
        kept = False
        try:
            try:
                writer.write(message)
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise _ClosedBeforeAnswer() from exc
            except asyncio.LimitOverrunError as exc:
                raise HttpError("answer headers too long") from exc
            status, length, close = _parse_head(head)
            content = await reader.readexactly(length) if length else b""
            if not close:
                self._idle.append(connection)
                kept = True
            return status, content
        except asyncio.IncompleteReadError as exc:
            raise HttpError("answer cut short") from exc
        finally:
            if not kept:
                writer.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            try:
                await writer.wait_closed()
            except OSError:
                pass


class _ClosedBeforeAnswer(Exception):
    pass


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server closes the connection.

    >>> _parse_head(b"HTTP/1.1 200 OK\\r\\nContent-Length: 12\\r\\nConnection: Keep-Alive\\r\\n\\r\\n")
    (200, 12, False)
    >>> _parse_head(b"HTTP/1.1 204 No Content\\r\\nConnection: close\\r\\n\\r\\n")
    (204, 0, True)
    """
    lines = head.decode("latin-1").split("\r\n")
    try:
        version, code = lines[0].split(" ", 2)[:2]
        status = int(code)
    except ValueError as exc:
        raise HttpError(f"not an HTTP status line: {lines[0][:80]!r}") from exc
    length, close = 0, version == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        match name.strip().lower():
            case "content-length":
                if not value.strip().isdigit():
                    raise HttpError(f"bad Content-Length {value.strip()[:20]!r}")
                length = int(value)
            case "connection":
                close = value.strip().lower() == "close"
            case "transfer-encoding":
                raise HttpError(f"transfer-encoding {value.strip()} is not read by this client")
    return status, length, close
