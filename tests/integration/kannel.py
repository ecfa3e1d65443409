"""A private Kannel SMS gateway for the tests: bearerbox, smsbox and two fake SMS centres on 127.0.0.1.

Kannel's fake SMS centre (``smsc = fake``) listens on a port and serves one ``fakesmsc`` client at a
time (its listener thread runs the client's loop itself), so the lab has two of them: ``mt``, where
a long-running ``fakesmsc -m 0`` receives every message sent through the gateway (mobile-terminated),
and ``mo``, where a short-lived ``fakesmsc -m 1`` per :meth:`KannelLab.send` brings one message from
the "network" (mobile-originated). ``allowed-smsc-id = mo`` keeps the router from ever choosing
``mo`` for an outgoing message.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.error import HTTPError
from urllib.parse import quote_from_bytes, unquote_to_bytes
from urllib.request import urlopen

from tests.integration.harness import until
from tests.ports import free_port

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
START_TIMEOUT = 20.0

CONFIG = """\
group = core
admin-interface = 127.0.0.1
admin-port = {admin_port}
admin-password = {admin_password}
smsbox-interface = 127.0.0.1
smsbox-port = {smsbox_port}
access-log = "{folder}/bearerbox-access.log"

group = smsc
smsc = fake
smsc-id = mt
our-host = 127.0.0.1
port = {mt_port}
connect-allow-ip = 127.0.0.1

group = smsc
smsc = fake
smsc-id = mo
allowed-smsc-id = mo
our-host = 127.0.0.1
port = {mo_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-interface = 127.0.0.1
sendsms-port = {sendsms_port}
access-log = "{smsbox_access_log}"

group = sendsms-user
username = {user}
password = {password}

# max-messages = 0: the get-url's answer never goes back to the sender as an SMS.
group = sms-service
keyword = default
max-messages = 0
get-url = "{get_url}"
"""

_GOT = re.compile(r"Got message \d+: <(\S*) (\S*) (text|data|ucs-2) (.*)>$")


@dataclass(frozen=True)
class Sms:
    """A message that reached the fake SMS centre; ``at`` is the ``time.monotonic()`` of its arrival."""

    at: float
    sender: str
    receiver: str
    text: str


def parse_fakesmsc(line: str) -> tuple[str, str, str] | None:
    """The sender, receiver and text of a message in fakesmsc's log line, None for any other line.

    smsc_fake writes a 7-bit message as its (UTF-8) text, an 8-bit one url-encoded, and a UCS-2
    one as url-encoded UTF-16BE where ``+`` is the byte 0x20:

    >>> parse_fakesmsc("2026-12-06 23:52:58 [6523] [0] DEBUG: Got message 1: <1234 +3361 text Hola José>")
    ('1234', '+3361', 'Hola José')
    >>> parse_fakesmsc("... DEBUG: Got message 2: <1234 +3361 ucs-2 %00J%00o%00s%00%E9%00++%AC>")
    ('1234', '+3361', 'José €')
    >>> parse_fakesmsc("... DEBUG: Got message 3: <1234 +3361 data Jos%C3%A9+%3C%3E>")
    ('1234', '+3361', 'José <>')
    >>> parse_fakesmsc("... DEBUG: Connecting to <127.0.0.1>") is None
    True

    A message with a UDH (a part of a split message) is not recognised: the lab's sendsms-user sends
    one part. A 7-bit text holding a line break spans two log lines: send such text as UCS-2.
    """
    match = _GOT.search(line)
    if match is None:
        return None
    sender, receiver, kind, body = match.groups()
    if kind == "text":
        return sender, receiver, body
    data = unquote_to_bytes(body.replace("+", " "))
    return sender, receiver, data.decode("utf-16-be" if kind == "ucs-2" else "utf-8", "replace")


async def until_async(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """`harness.until` for a test whose event loop must keep running (an in-process web server)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


class KannelLab:
    """A Kannel of its own, with its configuration and logs in ``folder``.

    Every message Kannel receives from the network (:meth:`send`) makes smsbox call ``get_url``, a
    template where smsbox puts, url-encoded: ``%p`` the sender, ``%P`` the receiver, ``%b`` the
    text's bytes as they came, ``%c`` the coding (0 for 7-bit, 2 for UCS-2) and ``%C`` the charset
    of ``%b`` (UTF-8, or UTF-16BE for UCS-2); also ``%t`` the time, ``%i`` the SMSC id and ``%I``
    the message's id. Not ``%a``: it joins the text's words with single spaces, so runs of blanks
    are lost, and in UCS-2 it splits on bytes 0x20 and breaks the UTF-16. The get-url's answer is
    never sent back as an SMS.

    Messages sent through ``sendsms_url`` with ``user`` and ``password`` reach the fake SMS centre,
    where :meth:`received` and :meth:`wait_for` see them. Kannel turns a 7-bit message into the GSM
    alphabet (``ú`` becomes ``?``): text outside it needs ``coding=2&charset=UTF-8``.

    The logs: ``bearerbox.log``, ``smsbox.log``, ``fakesmsc-mt.log``, ``fakesmsc-mo.log`` and the
    access logs; smsbox writes a line to ``smsbox_access_log`` once it has the get-url's answer.
    """

    def __init__(self, folder: Path, get_url: str) -> None:
        if '"' in get_url or "\n" in get_url:
            raise ValueError(f"the get-url {get_url!r} cannot be written in kannel.conf: no quote, no newline")
        self.folder = folder
        self.user = "ivr"
        self.password = secrets.token_urlsafe(16)
        self.smsbox_access_log = folder / "smsbox-access.log"
        self._admin_password = secrets.token_urlsafe(16)
        self._admin_port, smsbox_port, self._mt_port, self._mo_port, sendsms_port = (
            free_port() for _ in range(5))
        self.sendsms_url = f"http://127.0.0.1:{sendsms_port}/cgi-bin/sendsms"
        self._config = folder / "kannel.conf"
        self._config.write_text(CONFIG.format(
            admin_port=self._admin_port, admin_password=self._admin_password, smsbox_port=smsbox_port,
            folder=folder, mt_port=self._mt_port, mo_port=self._mo_port, sendsms_port=sendsms_port,
            smsbox_access_log=self.smsbox_access_log, user=self.user, password=self.password,
            get_url=get_url))
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._received: list[Sms] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> KannelLab:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start Kannel and return once smsbox answers and the fake SMS centre is connected.

        After :meth:`stop` it starts the same Kannel again: same ports, same passwords.
        """
        self._spawn("bearerbox", ["bearerbox", str(self._config)])
        # The admin port answers before the SMS centres exist; a listed one is listening.
        self._until_up(lambda: self._smsc("mt") is not None, "bearerbox's fake SMS centres")
        self._spawn("smsbox", ["smsbox", str(self._config)])
        capture = subprocess.Popen([FAKESMSC, *self._fakesmsc_args(self._mt_port, 0)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._processes["fakesmsc-mt"] = capture
        self._reader = threading.Thread(target=self._capture, args=(capture,), daemon=True)
        self._reader.start()
        self._until_up(self._ready, "smsbox's sendsms port and the fake SMS centre's link")

    def stop(self) -> None:
        """Kill Kannel at once (kill -9), as a crash would; smsbox stops answering too.

        Killed, because smsbox hangs in its shutdown once bearerbox is gone.
        """
        for process in self._processes.values():
            process.kill()
            process.wait()
        self._processes.clear()
        if self._reader is not None:
            self._reader.join(5)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def received(self) -> list[Sms]:
        """Every message that reached the fake SMS centre, oldest first, across restarts."""
        with self._lock:
            return list(self._received)

    def wait_for(self, predicate: Callable[[Sms], bool], timeout: float = 10.0) -> Sms:
        """The first received message that matches; it waits for it, up to ``timeout`` seconds."""
        try:
            found: Sms = until(lambda: self._first(predicate), timeout, "an SMS at the fake SMS centre")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it received {self.received()}") from None
        return found

    async def wait_for_async(self, predicate: Callable[[Sms], bool], timeout: float = 10.0) -> Sms:
        """:meth:`wait_for` that leaves the event loop running."""
        try:
            found: Sms = await until_async(lambda: self._first(predicate), timeout,
                                           "an SMS at the fake SMS centre")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it received {self.received()}") from None
        return found

    def send(self, sender: str, receiver: str, text: str, ucs2: bool = False, timeout: float = 10.0) -> None:
        """Make Kannel receive ``text`` from the network, sent by ``sender`` to ``receiver``.

        A phone sends text outside the GSM alphabet as UCS-2 (``ucs2=True``): smsbox then fills the
        get-url's ``%b`` with url-encoded UTF-16BE, ``%c`` with 2 and ``%C`` with UTF-16BE (unless
        smsbox has ``mo-recode = true``, which makes it UTF-8). Otherwise the text arrives as 7-bit,
        ``%b`` UTF-8.

        It returns once bearerbox holds the message; smsbox calls the get-url right after. It
        blocks: from a coroutine, run it with ``asyncio.to_thread``.
        """
        if any(character.isspace() for character in sender + receiver):
            raise ValueError(f"fakesmsc sends one line: no blank in {sender!r} or {receiver!r}")
        if ucs2:
            body = "ucs2 " + quote_from_bytes(text.encode("utf-16-be"), safe="")
        elif {"\n", "\r"} & set(text):
            raise ValueError(f"a 7-bit message is one line for fakesmsc: send {text!r} with ucs2=True")
        else:
            body = "text " + text
        before = self._mo_received()
        with open(self.folder / "fakesmsc-mo.log", "ab") as log:
            # With -m 1 fakesmsc sends its message and then waits for replies forever.
            process = subprocess.Popen(
                [FAKESMSC, *self._fakesmsc_args(self._mo_port, 1, f"{sender} {receiver} {body}")],
                stdout=log, stderr=subprocess.STDOUT)
            try:
                until(lambda: self._mo_received() > before or process.poll() is not None, timeout,
                      f"bearerbox to receive the message; see {log.name}")
                if self._mo_received() == before:
                    raise AssertionError(f"fakesmsc exited with {process.returncode}; see {log.name}")
            finally:
                process.kill()
                process.wait()

    @staticmethod
    def _fakesmsc_args(port: int, count: int, message: str = "unused unused text unused") -> list[str]:
        # Without a message argument fakesmsc reads messages from stdin, and reads the
        # connection only between them.
        return ["-H", "127.0.0.1", "-r", str(port), "-m", str(count), message]

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "ab")
        self._logs.append(log)
        self._processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _capture(self, process: subprocess.Popen[bytes]) -> None:
        """Read what fakesmsc logs (on stderr) into its log file and the received messages."""
        assert process.stderr is not None
        with process.stderr, open(self.folder / "fakesmsc-mt.log", "ab") as log:
            for raw in process.stderr:
                at = time.monotonic()
                log.write(raw)
                log.flush()
                message = parse_fakesmsc(raw.decode("utf-8", "replace").rstrip("\n"))
                if message is not None:
                    with self._lock:
                        self._received.append(Sms(at, *message))

    def _first(self, predicate: Callable[[Sms], bool]) -> Sms | None:
        return next((sms for sms in self.received() if predicate(sms)), None)

    def _until_up(self, check: Callable[[], bool], what: str) -> None:
        def alive_and(check: Callable[[], bool]) -> bool:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{name} exited with {process.returncode}; "
                                         f"see {self.folder / name}.log")
            return check()
        try:
            until(lambda: alive_and(check), START_TIMEOUT, what)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"Kannel did not come up: {exc}; see the logs in {self.folder}") from None

    def _ready(self) -> bool:
        status = self._status()
        if status is None:
            return False
        link = _link(status, "mt")
        return (link is not None and (link.findtext("status") or "").startswith("online")
                and any(box.findtext("type") == "smsbox" for box in status.iter("box"))
                and _fetch(self.sendsms_url) is not None)

    def _mo_received(self) -> int:
        link = self._smsc("mo")
        return int(link.findtext("sms/received") or 0) if link is not None else 0

    def _smsc(self, smsc_id: str) -> ET.Element | None:
        status = self._status()
        return _link(status, smsc_id) if status is not None else None

    def _status(self) -> ET.Element | None:
        """bearerbox's status page, or None while its admin port does not answer."""
        page = _fetch(f"http://127.0.0.1:{self._admin_port}/status.xml?password={self._admin_password}")
        return ET.fromstring(page) if page is not None else None


def _link(status: ET.Element, smsc_id: str) -> ET.Element | None:
    """An SMS centre's entry in bearerbox's status.xml, by its smsc-id."""
    return next((smsc for smsc in status.iter("smsc") if smsc.findtext("id") == smsc_id), None)


def _fetch(url: str) -> bytes | None:
    """The body of the answer to a GET, whatever its status; None while nothing answers.

    urllib, not httpx: an httpx.get builds an SSL context each time, 50 ms, and the lab polls.
    """
    try:
        with urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body
    except HTTPError as error:
        with error:
            return error.read()
    except OSError:
        return None
