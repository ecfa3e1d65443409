"""The FastAGI wire: Asterisk's headers, our commands, its replies, over one TCP connection.

Facts of Asterisk (res_agi.c) this is built around:
- a session opens with ``agi_key: value`` lines ended by a blank line; an empty value still
  keeps the space after the colon;
- replies are ``200 result=<n> [(<data>)] [endpos=<n>]``; ``100 result=0 Trying...`` comes
  before a long command's real reply; ``510``/``520`` refuse a command, and a ``520-`` block
  carries the command's usage up to ``520 End of proper usage.``;
- when the channel hangs up it sends a bare ``HANGUP`` line and keeps the socket open, and
  later commands get ``511`` (not permitted on a dead channel);
- command arguments split on blanks unless double-quoted, and a backslash escapes ``"`` or ``\\``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

log = logging.getLogger("ivr.agi")

LINE_LIMIT = 8192
# VERBOSE, SET and GET VARIABLE answer at once; waiting longer only hides a stuck Asterisk.
QUICK_TIMEOUT = 5.0

_REPLY = re.compile(r"200 result=(?P<result>\S*)(?: (?P<data>.*?))??(?: endpos=(?P<endpos>-?\d+))?")


class AgiHangup(Exception):
    """The channel hung up or the peer closed the connection."""


class AgiProtocolError(Exception):
    """The peer sent something that is not FastAGI, or refused a command."""


@dataclass(frozen=True)
class AgiReply:
    """``200 result=1 (timeout) endpos=1234`` is result "1", data "timeout", endpos 1234."""

    code: int
    result: str
    data: str
    endpos: int | None = None


def parse_reply(line: str) -> AgiReply:
    """Parse one ``200`` reply line.

    >>> parse_reply("200 result=1 (timeout) endpos=1234")
    AgiReply(code=200, result='1', data='timeout', endpos=1234)
    >>> parse_reply("200 result=-1")
    AgiReply(code=200, result='-1', data='', endpos=None)
    >>> parse_reply("200 result= (timeout)")  # GET DATA with nothing typed
    AgiReply(code=200, result='', data='timeout', endpos=None)
    >>> parse_reply("200 result=0 Gosub complete")
    AgiReply(code=200, result='0', data='Gosub complete', endpos=None)
    """
    match = _REPLY.fullmatch(line)
    if match is None:
        raise AgiProtocolError(f"malformed reply {line[:60]!r}")
    data = match["data"] or ""
    if data.startswith("(") and data.endswith(")"):
        data = data[1:-1]
    endpos = match["endpos"]
    return AgiReply(200, match["result"], data, None if endpos is None else int(endpos))


def quote(arg: str) -> str:
    r"""Quote one argument of an AGI command line.

    >>> print(quote(r'say "hi" C:\x'))
    "say \"hi\" C:\\x"
    >>> quote("two\nlines")
    Traceback (most recent call last):
    ...
    ValueError: a line break or NUL would end the AGI command: 'two\nlines'
    """
    _refuse_line_breaks(arg)
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refuse_line_breaks(text: str) -> None:
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"a line break or NUL would end the AGI command: {text[:60]!r}")


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readline()
    except ValueError as exc:  # how StreamReader reports a line over its limit
        raise AgiProtocolError("line longer than the stream's limit") from exc
    except ConnectionError as exc:
        raise AgiHangup(f"connection lost: {exc}") from exc
    if not raw.endswith(b"\n"):
        raise AgiHangup("the peer closed the connection")
    return raw[:-1].decode(errors="replace")


async def read_headers(reader: asyncio.StreamReader, limit_lines: int = 128,
                       timeout: float = 5.0) -> dict[str, str]:
    """Read the ``agi_*`` lines up to the blank one, keyed without the ``agi_`` prefix."""
    env: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        for _ in range(limit_lines + 1):
            line = await _read_line(reader)
            if not line:
                return env
            key, colon, value = line.partition(": ")
            if not colon:
                raise AgiProtocolError(f"header line without ': ': {line[:60]!r}")
            env[key.removeprefix("agi_")] = value
    raise AgiProtocolError(f"more than {limit_lines} header lines")


def _numbered_args(env: dict[str, str]) -> list[str]:
    args: list[str] = []
    while (arg := env.get(f"arg_{len(args) + 1}")) is not None:
        args.append(arg)
    return args


class AgiChannel:
    """One FastAGI session: the headers Asterisk sent, and commands on its channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 env: dict[str, str]) -> None:
        self._reader = reader
        self._writer = writer
        self.env = env
        self.script, _, query = env.get("network_script", "").partition("?")
        self.params = dict(parse_qsl(query))
        self.args = _numbered_args(env)

    async def command(self, line: str, timeout: float) -> AgiReply:
        """Send one command and return its ``200`` reply; ``result`` "-1" often means hung up."""
        _refuse_line_breaks(line)
        async with asyncio.timeout(timeout):
            self._writer.write(f"{line}\n".encode())
            try:
                await self._writer.drain()
            except ConnectionError as exc:
                raise AgiHangup(f"connection lost: {exc}") from exc
            return await self._read_reply(line)

    async def _read_reply(self, command: str) -> AgiReply:
        while True:
            line = await _read_line(self._reader)
            if line == "HANGUP":
                raise AgiHangup("the channel hung up")
            if line.startswith("100 "):
                continue
            if line.startswith("200 "):
                return parse_reply(line)
            if line.startswith("511 "):
                raise AgiHangup(line)
            if line.startswith("520-"):
                raise AgiProtocolError(f"{command!r}: invalid syntax, usage:\n{await self._read_usage()}")
            raise AgiProtocolError(f"{command!r}: Asterisk answered {line[:80]!r}")

    async def _read_usage(self) -> str:
        usage: list[str] = []
        while not (line := await _read_line(self._reader)).startswith("520 "):
            usage.append(line)
        return "\n".join(usage)

    async def set_variable(self, name: str, value: str, *, timeout: float = QUICK_TIMEOUT) -> None:
        await self.command(f"SET VARIABLE {quote(name)} {quote(value)}", timeout)

    async def get_variable(self, name: str, *, timeout: float = QUICK_TIMEOUT) -> str | None:
        """The variable's value, or None when it is not set."""
        reply = await self.command(f"GET VARIABLE {quote(name)}", timeout)
        return reply.data if reply.result == "1" else None

    async def verbose(self, msg: str, level: int = 1, *, timeout: float = QUICK_TIMEOUT) -> None:
        await self.command(f"VERBOSE {quote(msg)} {level}", timeout)


AgiHandler = Callable[[AgiChannel], Awaitable[None]]


async def serve(host: str, port: int, handler: AgiHandler,
                header_timeout: float = 5.0) -> asyncio.Server:
    """Listen for FastAGI; each connection runs ``handler``, and no failure of one stops the rest."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_name(writer)
        try:
            env = await read_headers(reader, timeout=header_timeout)
            await handler(AgiChannel(reader, writer, env))
        except AgiHangup as exc:
            log.info("AGI session from %s ended: %s", peer, exc)
        except AgiProtocolError as exc:
            log.warning("AGI session from %s dropped: %s", peer, exc)
        except TimeoutError:
            log.warning("AGI session from %s dropped: timed out waiting for Asterisk", peer)
        except Exception:
            log.exception("AGI session from %s failed", peer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(session, host, port, limit=LINE_LIMIT)


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if peer else "an unknown peer"
