"""ARI over TLS against the real Asterisk: the bundled PBX with `pbx.tls` serves https:// and
wss:// with a generated certificate; `ivr run` serves a call through it, and refuses a
certificate of another CA with a message, not a traceback.

A PBX instance of its own (the session's has no TLS listener, and Asterisk's TLS settings are
read when it starts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.pbx.tls_cert import CA, ensure_certificate
from tests.integration.conftest import DEMO_FLOW, TEST_SETTINGS
from tests.integration.harness import REPO, App, Pbx, until
from tests.ports import free_port


@pytest.fixture(scope="module")
def tls_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("tls-pbx")
    http, ami, sip, tls = free_port(), free_port(), free_port(socket.SOCK_DGRAM), free_port()
    agi = free_port()
    (base / "demo-flow.toml").write_text(DEMO_FLOW)
    name = f"test-{os.getpid()}-tls"
    settings = TEST_SETTINGS.format(instance=name, state=base / "state", root=REPO / ".pbx" / "root",
                                    http=http, sip=sip, ami=ami, agi=agi, api=free_port(),
                                    flow=base / "demo-flow.toml")
    config = base / "ivr.toml"
    config.write_text(settings.replace("rtp_start = 31000\nrtp_end = 31999",
                                       f"rtp_start = 32000\nrtp_end = 32999\ntls = true\ntls_port = {tls}"))
    pbx = Pbx(config=config, http_port=http, sip_port=sip, state_dir=base / "state", agi_port=agi,
              instance=name)
    started = time.monotonic()
    result = pbx.ivr("pbx", "up", timeout=900)
    assert result.returncode == 0, f"ivr pbx up failed:\n{result.stdout}\n{result.stderr}"
    print(f"TLS PBX up in {time.monotonic() - started:.1f} s")
    assert f"ARI at https://127.0.0.1:{tls}/ari" in result.stdout
    yield pbx
    pbx.ivr("pbx", "down")
    shutil.rmtree(pbx.folder, ignore_errors=True)


def test_ivr_run_serves_a_call_over_https_and_wss(tls_pbx: Pbx, tmp_path: Path) -> None:
    status = tls_pbx.ivr("pbx", "status")
    assert "ARI answering, Asterisk 22" in status.stdout, status.stdout + status.stderr
    app = App(tls_pbx, tmp_path / "app.log")
    try:
        app.wait_connected(1)
        assert "ARI events: connected to wss://127.0.0.1:" in app.text()
        report = tls_pbx.call("100", "--dtmf", "1234#")
        assert report["answered"] and not report["timed_out"]
        assert report["digits_received"] == "1234#"
        assert report["variables"]["IVR_RESULT"] == "identified"
        assert report["hangup_cause"] == 16
    finally:
        app.stop()
    until(lambda: not tls_pbx.channels(), 15, "every channel to be gone")


def test_ivr_run_refuses_a_certificate_of_another_ca_with_a_clear_message(tls_pbx: Pbx, tmp_path: Path) -> None:
    ensure_certificate(tmp_path / "other", ["127.0.0.1"])
    config = tmp_path / "ivr.toml"
    config.write_text(tls_pbx.config.read_text() + f'\n[ari]\nca_file = "{tmp_path / "other" / CA}"\n')
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ivr", "--config", str(config), "run"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Asterisk's certificate is not signed by a trusted CA" in result.stderr
    assert f"set ari.ca_file to the CA certificate that signed it (now: ari.ca_file {tmp_path}" in result.stderr
    assert took < 10, f"refused after {took:.1f} s: a certificate is not retried until the start-up timeout"


def test_ivr_call_and_status_say_the_same_about_a_wrong_ca(tls_pbx: Pbx, tmp_path: Path) -> None:
    ensure_certificate(tmp_path / "other", ["127.0.0.1"])
    config = tmp_path / "ivr.toml"
    config.write_text(tls_pbx.config.read_text() + f'\n[ari]\nca_file = "{tmp_path / "other" / CA}"\n')
    call = tls_pbx.ivr("call", "100", config=config)
    assert call.returncode == 2 and "not signed by a trusted CA" in call.stderr, call.stderr
    assert "Traceback" not in call.stderr
    status = tls_pbx.ivr("pbx", "status", config=config)
    assert "not signed by a trusted CA" in status.stdout, status.stdout + status.stderr
