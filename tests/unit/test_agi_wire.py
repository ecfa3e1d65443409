"""The FastAGI wire over real loopback TCP, the test playing Asterisk's side."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ivr.agi.wire import (
    LINE_LIMIT,
    AgiChannel,
    AgiHangup,
    AgiProtocolError,
    AgiReply,
    parse_reply,
    quote,
    serve,
)

HEADERS = [
    "agi_network: yes",
    "agi_network_script: identify?node=main",
    "agi_request: agi://127.0.0.1:4573/identify?node=main",
    "agi_channel: PJSIP/loopback-00000001",
    "agi_callerid: 600",
    "agi_extension: 100",
    "agi_accountcode: ",
    "agi_arg_1: foo",
    "agi_arg_2: bar",
    "",
]
# Every wait on the other side is bounded by this, so a hang fails the test instead of stalling it.
WAIT = 1.0

Body = Callable[[AgiChannel], Awaitable[object]]


class Session:
    """The handler under test: runs ``body`` on each channel and queues what it returned or raised."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self._outcomes: asyncio.Queue[object] = asyncio.Queue()
        self.calls = 0

    async def __call__(self, channel: AgiChannel) -> None:
        self.calls += 1
        try:
            self._outcomes.put_nowait(await self._body(channel))
        except Exception as exc:
            self._outcomes.put_nowait(exc)
            raise

    async def outcome(self) -> object:
        async with asyncio.timeout(WAIT):
            return await self._outcomes.get()


class Asterisk:
    """Asterisk's end of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    def send(self, *lines: str) -> None:
        self._writer.write("".join(f"{line}\n" for line in lines).encode())

    async def expect(self, command: str) -> None:
        async with asyncio.timeout(WAIT):
            assert await self._reader.readline() == f"{command}\n".encode()

    def hang_up(self) -> None:
        self._writer.write_eof()

    async def closed_by_server(self) -> None:
        """The server closed the connection without sending anything more."""
        async with asyncio.timeout(WAIT):
            # Closing with our bytes still unread makes the server's kernel answer with a reset.
            with contextlib.suppress(ConnectionResetError):
                assert await self._reader.read() == b""

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class Bench:
    """A FastAGI server on a free loopback port, and the Asterisk side of connections to it."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._peers: list[Asterisk] = []
        self._port = 0

    async def start(self, body: Body, header_timeout: float = 5.0) -> Session:
        session = Session(body)
        server = await serve("127.0.0.1", 0, session, header_timeout=header_timeout)
        self._servers.append(server)
        self._port = server.sockets[0].getsockname()[1]
        return session

    async def call(self, *lines: str) -> Asterisk:
        peer = Asterisk(*await asyncio.open_connection("127.0.0.1", self._port))
        self._peers.append(peer)
        peer.send(*lines)
        return peer

    async def close(self) -> None:
        for peer in self._peers:
            await peer.close()
        for server in self._servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    bench = Bench()
    yield bench
    await bench.close()


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="ivr.agi")
    return caplog


def logged(caplog: pytest.LogCaptureFixture, level: int) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "ivr.agi" and r.levelno == level)


async def the_channel(channel: AgiChannel) -> AgiChannel:
    return channel


async def test_headers_give_env_script_params_and_args(bench: Bench) -> None:
    session = await bench.start(the_channel)
    await bench.call(*HEADERS)

    channel = await session.outcome()

    assert isinstance(channel, AgiChannel)
    assert channel.env["channel"] == "PJSIP/loopback-00000001"
    assert channel.env["callerid"] == "600"
    assert channel.env["extension"] == "100"
    assert channel.env["network_script"] == "identify?node=main"
    assert channel.env["accountcode"] == ""
    assert channel.script == "identify"
    assert channel.params == {"node": "main"}
    assert channel.args == ["foo", "bar"]


async def test_command_reply_comes_after_100_trying(bench: Bench) -> None:
    session = await bench.start(lambda channel: channel.command("EXEC Gosub identify,s,1", WAIT))
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect("EXEC Gosub identify,s,1")
    asterisk.send("100 result=0 Trying...", "200 result=0 Gosub complete")

    assert await session.outcome() == AgiReply(200, "0", "Gosub complete")


async def test_reply_data_and_endpos_are_parsed_apart(bench: Bench) -> None:
    session = await bench.start(lambda channel: channel.command('RECORD FILE "msg" wav "#" 100', WAIT))
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect('RECORD FILE "msg" wav "#" 100')
    asterisk.send("200 result=1 (timeout) endpos=0")

    assert await session.outcome() == AgiReply(200, "1", "timeout", endpos=0)


@pytest.mark.parametrize(("line", "reply"), [
    ("200 result=-1", AgiReply(200, "-1", "")),
    ("200 result=0 endpos=1234", AgiReply(200, "0", "", endpos=1234)),
    ("200 result= (timeout)", AgiReply(200, "", "timeout")),
    ("200 result=1 (a (nested) value)", AgiReply(200, "1", "a (nested) value")),
    ("200 result=1 (x endpos=5)", AgiReply(200, "1", "x endpos=5")),
    ("200 result=1 (dtmf) endpos=960", AgiReply(200, "1", "dtmf", endpos=960)),
])
def test_parse_reply(line: str, reply: AgiReply) -> None:
    assert parse_reply(line) == reply


@pytest.mark.parametrize("line", ["200 result1", "200  result=1", "200"])
def test_parse_reply_refuses_malformed_lines(line: str) -> None:
    with pytest.raises(AgiProtocolError, match="malformed reply"):
        parse_reply(line)


def answer_hangup(asterisk: Asterisk) -> None:
    asterisk.send("HANGUP")


def answer_dead_channel(asterisk: Asterisk) -> None:
    asterisk.send("511 Command Not Permitted on a dead channel or intercept routine")


@pytest.mark.parametrize("hang_up", [answer_hangup, answer_dead_channel, Asterisk.hang_up],
                         ids=["HANGUP line", "511 dead channel", "connection closed"])
async def test_hangup_reaches_the_handler_as_agi_hangup(
        bench: Bench, caplog_info: pytest.LogCaptureFixture, hang_up: Callable[[Asterisk], None]) -> None:
    session = await bench.start(lambda channel: channel.command('STREAM FILE hello ""', WAIT))
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect('STREAM FILE hello ""')
    hang_up(asterisk)

    assert isinstance(await session.outcome(), AgiHangup)
    await asterisk.closed_by_server()
    assert "AGI session from 127.0.0.1:" in logged(caplog_info, logging.INFO)


async def test_peer_closing_early_is_dropped_at_once_and_the_server_goes_on(
        bench: Bench, caplog_info: pytest.LogCaptureFixture) -> None:
    session = await bench.start(lambda channel: channel.command("ANSWER", WAIT), header_timeout=5.0)
    early = await bench.call(*HEADERS[:3])

    early.hang_up()

    await early.closed_by_server()  # within WAIT, well before the 5 s header timeout
    assert session.calls == 0
    assert "closed the connection" in logged(caplog_info, logging.INFO)
    asterisk = await bench.call(*HEADERS)
    await asterisk.expect("ANSWER")
    asterisk.send("200 result=0")
    assert await session.outcome() == AgiReply(200, "0", "")


@pytest.mark.parametrize(("lines", "reason"), [
    (["agi_network: yes", f"agi_channel: {'x' * LINE_LIMIT}", ""], "line longer than"),
    ([f"agi_var_{n}: x" for n in range(129)] + [""], "more than 128 header lines"),
    (["agi_network yes", ""], "header line without ': ': 'agi_network yes'"),
], ids=["over-long line", "too many lines", "no colon"])
async def test_bad_headers_drop_the_session_with_a_warning(
        bench: Bench, caplog: pytest.LogCaptureFixture, lines: list[str], reason: str) -> None:
    session = await bench.start(the_channel)
    asterisk = await bench.call(*lines)

    await asterisk.closed_by_server()

    assert session.calls == 0
    assert reason in logged(caplog, logging.WARNING)


async def env_size(channel: AgiChannel) -> int:
    return len(channel.env)


async def test_128_header_lines_are_accepted(bench: Bench) -> None:
    session = await bench.start(env_size)
    await bench.call(*[f"agi_var_{n}: x" for n in range(128)], "")

    assert await session.outcome() == 128


async def test_silent_peer_is_dropped_after_the_header_timeout(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    session = await bench.start(the_channel, header_timeout=0.1)
    asterisk = await bench.call(*HEADERS[:2])

    await asterisk.closed_by_server()

    assert session.calls == 0
    assert "timed out waiting for Asterisk" in logged(caplog, logging.WARNING)


async def refusal_then_answer(channel: AgiChannel) -> tuple[str, AgiReply]:
    try:
        await channel.command("SET VARIABLE x", WAIT)
    except AgiProtocolError as exc:
        return str(exc), await channel.command("ANSWER", WAIT)
    return "not refused", await channel.command("ANSWER", WAIT)


async def test_usage_block_raises_with_the_usage_and_leaves_the_stream_in_step(bench: Bench) -> None:
    session = await bench.start(refusal_then_answer)
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect("SET VARIABLE x")
    asterisk.send("520-Invalid command syntax.  Proper usage follows:",
                  "Usage: SET VARIABLE <variablename> <value>",
                  "520 End of proper usage.")
    await asterisk.expect("ANSWER")
    asterisk.send("200 result=0")

    outcome = await session.outcome()
    assert isinstance(outcome, tuple)
    refusal, reply = outcome
    assert "Usage: SET VARIABLE <variablename> <value>" in refusal
    assert reply == AgiReply(200, "0", "")


@pytest.mark.parametrize("answer", [
    "510 Invalid or unknown command",
    "520 Invalid command syntax.  Proper usage not available.",
    "hello",
])
async def test_refusals_and_garbage_raise_protocol_errors(bench: Bench, answer: str) -> None:
    session = await bench.start(lambda channel: channel.command("FROB", WAIT))
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect("FROB")
    asterisk.send(answer)

    error = await session.outcome()
    assert isinstance(error, AgiProtocolError)
    assert answer in str(error)


async def test_unanswered_command_times_out(bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    session = await bench.start(lambda channel: channel.command("ANSWER", 0.05))
    asterisk = await bench.call(*HEADERS)

    await asterisk.expect("ANSWER")

    assert isinstance(await session.outcome(), TimeoutError)
    await asterisk.closed_by_server()
    assert "timed out" in logged(caplog, logging.WARNING)


async def test_a_crashing_handler_does_not_stop_the_server(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    calls = itertools.count()

    async def crash_first(channel: AgiChannel) -> str:
        if next(calls) == 0:
            raise RuntimeError("handler bug")
        return channel.script

    session = await bench.start(crash_first)
    first = await bench.call(*HEADERS)
    assert isinstance(await session.outcome(), RuntimeError)
    await first.closed_by_server()
    await bench.call(*HEADERS)

    assert await session.outcome() == "identify"
    [record] = [r for r in caplog.records if r.name == "ivr.agi" and r.levelno == logging.ERROR]
    assert record.exc_info is not None


async def variables_and_verbose(channel: AgiChannel) -> tuple[str | None, str | None]:
    await channel.verbose("identifying", 3)
    await channel.set_variable("IVR_GREETING", 'say "hi" \\o/')
    return await channel.get_variable("CALLERID(num)"), await channel.get_variable("UNSET")


async def test_variables_and_verbose_on_the_wire(bench: Bench) -> None:
    session = await bench.start(variables_and_verbose)
    asterisk = await bench.call(*HEADERS)

    for command, answer in [
        ('VERBOSE "identifying" 3', "200 result=1"),
        (r'SET VARIABLE "IVR_GREETING" "say \"hi\" \\o/"', "200 result=1"),
        ('GET VARIABLE "CALLERID(num)"', "200 result=1 (600)"),
        ('GET VARIABLE "UNSET"', "200 result=0"),
    ]:
        await asterisk.expect(command)
        asterisk.send(answer)

    assert await session.outcome() == ("600", None)


async def test_a_command_with_a_line_break_is_never_sent(bench: Bench) -> None:
    session = await bench.start(lambda channel: channel.command("VERBOSE x\nHANGUP", WAIT))
    asterisk = await bench.call(*HEADERS)

    assert isinstance(await session.outcome(), ValueError)
    await asterisk.closed_by_server()


@pytest.mark.parametrize(("arg", "quoted"), [
    ("plain", '"plain"'),
    ("two words", '"two words"'),
    ("", '""'),
    ('say "hi"', r'"say \"hi\""'),
    ("C:\\x\\", r'"C:\\x\\"'),
])
def test_quote(arg: str, quoted: str) -> None:
    assert quote(arg) == quoted


@pytest.mark.parametrize("arg", ["a\nHANGUP", "a\r", "a\0b"])
def test_quote_refuses_what_would_end_the_command(arg: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        quote(arg)
