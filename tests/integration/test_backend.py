"""Backend-run campaigns against the real Asterisk: the example backend (examples/backend/backend.py)
runs the line, connects SIPp operators through each call's control URL and hears every event."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import PROVIDER, Behaviour, SipAgent
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_callbacks import report
from tests.ports import free_port

SECRET = secrets.token_urlsafe(24)
CUSTOMER = "+34600111222"

FLOW = """
[entry]
"700" = "campaign:front"

[campaign.front]
agents = {names}
mode = "backend"
backend_url = "http://127.0.0.1:{backend}/calls"
events_url = "http://127.0.0.1:{events}/events"
backend_secret_env = "IVR_BACKEND_SECRET"
backend_trunks = ["pstn"]
allow_sip = ["operators.example.com"]
ring_timeout = 3
max_wait = 60

[trunk.pstn]
dial = "PJSIP/{{number}}@pstn"
allow = ["+34600*"]

{agents}
"""


class Stage:
    """The app, the operators' phones (ana, bo) and a provider's trunk (pstn); the example backend
    or, with ``backend=False``, a plain receiver that keeps each call's control URL."""

    def __init__(self, pbx: Pbx, folder: Path, phones: dict[str, Behaviour] | None = None,
                 backend: bool = True, delay: float = 0.0, calls: int = 2, events_proxy: bool = False) -> None:
        self.pbx = pbx
        self.folder = folder
        self.phones = {name: SipAgent(name, behaviour, folder, calls)
                       for name, behaviour in (phones if phones is not None else {"ana": "answer", "bo": "answer"}).items()}
        self.provider = SipAgent("pstn", "answer", folder, 1)
        (folder / "providers.conf").write_text(PROVIDER.format(port=self.provider.port))
        self.port = free_port()
        self.proxy = TcpProxy(self.port) if events_proxy else None
        self.events = folder / "events.jsonl"
        self.controls: dict[str, str] = {}
        self.told: list[dict[str, Any]] = []
        self.receiver: ThreadingHTTPServer | None = None
        self.backend: subprocess.Popen[str] | None = None
        if backend:
            self.backend = subprocess.Popen(
                [sys.executable, str(REPO / "examples" / "backend" / "backend.py"), "--port", str(self.port),
                 "--operators", ",".join(self.phones), "--delay", str(delay), "--log", str(self.events)],
                env={"IVR_BACKEND_SECRET": SECRET, "PATH": "/usr/bin:/bin"}, text=True)
        else:
            self.receiver = receiver(self.port, self.controls, self.told)
        agents = "\n".join(f'[agent.{name}]\nphone = "{phone.phone}"\n' for name, phone in self.phones.items())
        flow = FLOW.format(backend=self.port, events=self.proxy.port if self.proxy else self.port, agents=agents,
                           names=json.dumps(list(self.phones)))
        self.api = free_port()
        self.config = pbx.configured(folder, flow, f'\n[database]\nurl = "sqlite:///{folder / "ivr.sqlite3"}"\n')
        self.config.write_text(self.config.read_text().replace(
            "[pbx]\n", f'[pbx]\npjsip_include = "{folder / "providers.conf"}"\n', 1))
        assert pbx.ivr("pbx", "up", config=self.config).returncode == 0
        self.log_start = len(pbx.asterisk_log())
        self.app = App(pbx, folder / "ivr.log", config=self.config, env={"IVR_API__PORT": str(self.api)})
        self.app.wait_connected(1)

    def caller(self, timeout: float = 30) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(self.config), "call", "700", "--json",
             "--caller-id", f"caller <{CUSTOMER}>", "--timeout", str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)

    def received(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines()]

    def called(self, text: str) -> int:
        return self.pbx.asterisk_log()[self.log_start:].count(f"Called {text}")

    def close(self) -> None:
        self.app.stop()
        if self.backend is not None:
            self.backend.kill()
            self.backend.wait(5)
        if self.receiver is not None:
            self.receiver.shutdown()
            self.receiver.server_close()
        if self.proxy is not None:
            self.proxy.close()
        for phone in (*self.phones.values(), self.provider):
            phone.stop()
        self.pbx.ivr("pbx", "up")


def receiver(port: int, controls: dict[str, str], told: list[dict[str, Any]]) -> ThreadingHTTPServer:
    """A backend that keeps each call's control URL (the test sends the commands) and its events."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path == "/calls":
                controls[data["call"]] = data["control_url"]
            else:
                told.append(data)
            self.send_response(202 if self.path == "/calls" else 200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def backend_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ivr pbx up` and `ivr run` read the flow file, which names the variable."""
    monkeypatch.setenv("IVR_BACKEND_SECRET", SECRET)


def types(events: list[dict[str, Any]], call: str) -> list[str]:
    mine = sorted((e for e in events if e["call"] == call), key=lambda e: e["seq"])
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1)), mine
    return [e["type"] for e in mine]


def test_the_backend_connects_an_operator_five_seconds_after_the_caller_joined(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, delay=5)
    try:
        served = report(stage.caller(timeout=15))
        call = stage.received()[0]["call"]
        until(lambda: "hung_up" in types(stage.received(), call), 15, "the hang-up event")
    finally:
        stage.close()

    assert served["variables"]["IVR_AGENT"] == "ana", served
    events = stage.received()
    assert types(events, call) == ["joined", "ringing", "answered", "bridged", "hung_up"], events
    answered = next(e for e in events if e["type"] == "answered")
    assert answered["to"] == "ana" and answered["waited"] >= 5, answered
    assert events[-1]["by"] == "caller" and len({e["id"] for e in events}) == len(events)


def test_an_operator_who_does_not_answer_is_marked_and_another_connected(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, phones={"ana": "ring", "bo": "answer"})
    try:
        served = report(stage.caller(timeout=20))
    finally:
        stage.close()

    assert served["variables"]["IVR_AGENT"] == "bo", served
    call = stage.received()[0]["call"]
    assert types(stage.received(), call)[:6] == ["joined", "ringing", "failed", "ringing", "answered", "bridged"]
    failed = next(e for e in stage.received() if e["type"] == "failed")
    assert failed["to"] == "ana" and failed["cause"], failed


def test_targets_outside_the_allow_lists_are_refused_and_a_number_reaches_the_trunk(
        pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, backend=False)
    try:
        caller = stage.caller(timeout=15)
        [control] = until(lambda: list(stage.controls.values()) or None, 10, "the call handed over")
        refused = [httpx.post(control, json={"id": f"k{index}", "command": "connect", **target}, timeout=5)
                   for index, target in enumerate([{"sip": "sip:op@evil.example.org"},
                                                   {"number": "+447700900123"}, {"agent": "zed"}])]
        connected = httpx.post(control, json={"id": "k9", "command": "connect", "number": CUSTOMER}, timeout=5)
        again = httpx.post(control, json={"id": "k9", "command": "connect", "number": CUSTOMER}, timeout=5)
        busy = httpx.post(control, json={"id": "k10", "command": "play", "media": ["sound:beep"]}, timeout=5)
        state = httpx.get(control, timeout=5).json()
        served = report(caller)
    finally:
        stage.close()

    assert [r.status_code for r in refused] == [403, 403, 400], [r.text for r in refused]
    assert (connected.status_code, connected.json()) == (202, {"id": "k9", "state": "ringing"})
    assert again.json() == connected.json()
    assert busy.status_code == 409 and busy.json()["state"] in ("ringing", "connecting", "talking"), busy.text
    assert state["state"] in ("ringing", "connecting", "talking"), state
    assert stage.called(f"{CUSTOMER}@pstn") == 1 and stage.called("+447700900123") == 0
    assert served["variables"]["IVR_AGENT"] == CUSTOMER, served


def test_a_command_after_the_caller_hung_up_gets_410_and_the_backend_hears_it(
        pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, backend=False)
    try:
        report(stage.caller(timeout=3))
        [control] = list(stage.controls.values())
        until(lambda: httpx.get(control, timeout=5).json()["state"] == "ended", 10, "the call ended")
        late = httpx.post(control, json={"id": "late", "command": "connect", "agent": "ana"}, timeout=5)
        wrong = httpx.post(control.rsplit("/", 1)[0] + "/not-the-token", json={"id": "x"}, timeout=5)
        until(lambda: [e for e in stage.told if e["type"] == "left"], 10, "the event of the hang-up")
    finally:
        stage.close()

    assert late.status_code == 410 and late.json()["state"] == "ended", late.text
    assert wrong.status_code == 404
    assert stage.called("agent-") == 0
    assert [(e["type"], e.get("why")) for e in stage.told] == [("joined", None), ("left", "the caller hung up")]


@pytest.mark.timeout(300)
def test_events_held_back_by_a_webhook_down_for_60_s_are_all_delivered_once(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, phones={}, events_proxy=True)
    try:
        assert stage.proxy is not None
        stage.proxy.cut(60)
        callers = [stage.caller(timeout=8) for _ in range(10)]
        for caller in callers:
            report(caller)
        assert stage.received() == []
        until(lambda: len(stage.received()) >= 20, 120, "every event, once the webhook is back")
    finally:
        stage.close()

    events = stage.received()
    assert len(events) == 20 and len({e["id"] for e in events}) == 20, events
    for call in {e["call"] for e in events}:
        assert types(events, call) == ["joined", "left"], events
