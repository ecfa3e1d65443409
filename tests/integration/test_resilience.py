"""The app rides through Asterisk restarts, dropped sockets and its own restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_campaigns import Setup


def _call_in_background(pbx: Pbx) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ivr", "--config", str(pbx.config), "call", "100", "--json",
         "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )


def _calls_in_app(pbx: Pbx) -> list[str]:
    ids: list[str] = pbx.ari("GET", "/applications/ivr")["channel_ids"]
    return ids


def test_next_call_is_served_after_asterisk_restarts(pbx: Pbx, app: App) -> None:
    assert pbx.ivr("pbx", "down").returncode == 0
    assert pbx.ivr("pbx", "up").returncode == 0
    app.wait_connected(2)

    report = pbx.call("100", "--dtmf", "55#")

    assert report["variables"]["IVR_CUSTOMER_ID"] == "55"
    assert app.process.poll() is None


LONG_PROMPT = """
[entry]
default = "identification:long-prompt"

[identification.long-prompt]
prompt = ["sound:ivr/enter-customer-id", "sound:ivr/please-hold", "sound:ivr/please-hold",
          "sound:ivr/please-hold"]
attempts = 1
timeout = 2.0
on_identified = "hangup"
on_not_identified = "hangup"
"""


def test_calls_are_reconciled_after_the_event_socket_drops(pbx: Pbx, tmp_path: Path) -> None:
    proxy = TcpProxy(pbx.http_port)
    app = App(pbx, tmp_path / "app.log", env={"IVR_ARI__URL": f"http://127.0.0.1:{proxy.port}"},
              config=pbx.configured(tmp_path, LONG_PROMPT))
    try:
        app.wait_connected(1)
        call = _call_in_background(pbx)
        until(lambda: _calls_in_app(pbx), 10, "the call to enter the app")
        # The socket drops during a 7 s prompt: events are lost, the call is picked up again. Not
        # the moment the call enters: cut before the app's first request (seen once in CI), the
        # prompt never starts and is heard once.
        time.sleep(1.0)
        proxy.cut(refuse_for=5.0)
        app.wait_connected(2)
        out, err = call.communicate(timeout=40)
        report = json.loads(out)
    finally:
        app.stop()
        proxy.close()

    assert not report["timed_out"], err
    assert report["prompts"].count("sound:ivr/enter-customer-id") == 2
    assert report["variables"]["IVR_RESULT"] == "not-identified"
    assert "reconcile: 1 live call(s)" in app.text()


def test_a_call_left_by_a_killed_app_is_taken_back_by_the_next(pbx: Pbx, tmp_path: Path) -> None:
    first = App(pbx, tmp_path / "first.log")
    first.wait_connected(1)
    call = _call_in_background(pbx)
    until(lambda: _calls_in_app(pbx), 10, "the call to enter the app")
    first.process.kill()
    first.stop()

    second = App(pbx, tmp_path / "second.log")
    try:
        out, err = call.communicate(timeout=40)
    finally:
        second.stop()
    report = json.loads(out)

    assert not report["timed_out"], err
    assert "taking back call" in second.text()
    assert report["variables"]["IVR_RESULT"] == "not-identified"


def test_stopping_the_app_hands_its_calls_to_the_fallback(pbx: Pbx, tmp_path: Path) -> None:
    app = App(pbx, tmp_path / "app.log")
    app.wait_connected(1)
    call = _call_in_background(pbx)
    until(lambda: _calls_in_app(pbx), 10, "the call to enter the app")
    app.stop()
    report = json.loads(call.communicate(timeout=40)[0])

    assert report["variables"]["IVR_ROUTE"] == "fallback"
    assert "handed to the dialplan fallback" in app.text()


def test_sigterm_hands_waiting_callers_over_and_exits_with_event_streams_open(
        pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "busy", "busy", max_wait=120.0)
    streams: list[httpx.Response] = []
    callers: list[subprocess.Popen[str]] = []
    try:
        for agent in ("ana", "bo"):
            setup.request("POST", f"/agents/{agent}/pause", json={"reason": "lunch"}).raise_for_status()
        for _ in range(5):
            client = httpx.Client(headers={"Authorization": f"Bearer {setup.token}"}, timeout=30)
            streams.append(client.send(client.build_request("GET", setup.api + "/events"), stream=True))
        callers = [_waiting_caller(setup.config) for _ in range(10)]
        until(lambda: len(_waiting(setup)) == 10, 20, "10 callers waiting")
        started = time.monotonic()
        setup.app.process.send_signal(signal.SIGTERM)
        setup.app.process.wait(30)
        exit_seconds = time.monotonic() - started
        for caller in callers:
            caller.communicate(timeout=30)
        records = [json.loads(line) for line in
                   pbx.ivr("calls", "--json", "--limit", "20", config=setup.config).stdout.splitlines()]
    finally:
        for response in streams:
            response.close()
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
        setup.close()

    print(f"ivr run exited {exit_seconds:.2f} s after SIGTERM")
    assert exit_seconds < 10, setup.app.text()
    assert [r["outcome"] for r in records].count("shutdown") == 10, records
    assert all("handed to the requeue loop" in r["notes"] for r in records), records


def _waiting_caller(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ivr", "--config", str(config), "call", "500", "--json",
                             "--timeout", "25"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)


def _waiting(setup: Setup) -> list[dict[str, object]]:
    campaigns = setup.request("GET", "/campaigns").json()["campaigns"]
    return [w for c in campaigns for w in c["waiting"]]


def test_pbx_up_with_the_root_built_does_not_announce_building_it(pbx: Pbx) -> None:
    result = pbx.ivr("pbx", "up")

    assert result.returncode == 0, result.stderr
    assert "ivr pbx: starting..." in result.stderr
    assert "builds the Asterisk root" not in result.stderr
