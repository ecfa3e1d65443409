"""The dialplan fallback against the real Asterisk: `pbx.fallback.kind = "busy"` refuses a SIP
caller with 486 Busy Here before answering (the benchmark's caller, ivr.bench.fallback, takes it
as a clean end)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from ivr.bench.fallback import caller
from tests.integration.harness import Pbx
from tests.ports import free_port


def test_a_busy_fallback_refuses_the_caller_with_486_when_no_app_takes_the_call(pbx: Pbx, tmp_path: Path) -> None:
    busy = pbx.configured(tmp_path, extra='\n[pbx.fallback]\nkind = "busy"\n')
    scenario = tmp_path / "caller.xml"
    scenario.write_text(caller(hold_ms=1000))
    try:
        reloaded = pbx.ivr("pbx", "up", config=busy)
        assert reloaded.returncode == 0, reloaded.stderr
        sipp = subprocess.run(
            ["sipp", f"127.0.0.1:{pbx.sip_port}", "-sf", str(scenario), "-s", "100", "-m", "1",
             "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1",
             "-mp", str(free_port(socket.SOCK_DGRAM)), "-timeout", "20s", "-timeout_error", "-nostdin",
             "-trace_msg", "-message_file", str(tmp_path / "messages.log")],
            capture_output=True, text=True, timeout=40, cwd=tmp_path)
    finally:
        restored = pbx.ivr("pbx", "up")
    assert restored.returncode == 0, restored.stderr
    messages = (tmp_path / "messages.log").read_text()
    assert sipp.returncode == 0, sipp.stdout[-2000:] + messages[-3000:]
    assert "SIP/2.0 486 Busy Here" in messages and "SIP/2.0 200 OK" not in messages
    assert "ACK sip:100@" in messages  # the 486 acknowledged: Asterisk stops resending it
