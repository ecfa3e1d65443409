"""A real SIP caller: SIPp sends an INVITE with G.711, then RFC 2833 DTMF from the
`sip-tester` captures, one capture per key (the benchmark's caller, ivr/bench/sipp_scenarios.py),
and answers the BYE."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from ivr.bench.sipp_scenarios import CALL_SETUP, presses
from tests.ports import free_port

ANSWERS_THE_BYE = """  <recv request="BYE" timeout="30000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
  ]]></send>
</scenario>
"""


def scenario(keys: str, wait_ms: int = 2000, gap_ms: int = 300) -> str:
    """A caller pressing ``keys``, each a separate RFC 2833 event (a key pressed twice in a row
    would repeat the capture's RTP timestamp, which a receiver takes as the same press), who
    waits for the other side to hang up."""
    return (CALL_SETUP.format(name="ivr caller with RFC 2833 DTMF", wait_ms=wait_ms, keys=presses(keys, gap_ms))
            + ANSWERS_THE_BYE)


def call(sip_port: int, exten: str, keys: str, folder: Path, count: int = 1,
         at_once: int = 1) -> subprocess.CompletedProcess[str]:
    """``count`` calls, ``at_once`` of them at a time (SIPp starts up to 10 a second)."""
    path = folder / "uac_dtmf.xml"
    path.write_text(scenario(keys))
    command = ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(path), "-s", exten, "-m", str(count),
               "-l", str(at_once), "-r", "10",
               "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1",
               "-mp", str(free_port(socket.SOCK_DGRAM)), "-timeout", "40s", "-timeout_error", "-nostdin",
               "-trace_err", "-error_file", str(folder / "sipp-errors.log")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=folder)

