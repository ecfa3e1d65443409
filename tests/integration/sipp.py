"""A real SIP caller: SIPp sends an INVITE with G.711, then RFC 2833 DTMF from the
`sip-tester` captures, one capture per key, and answers the BYE."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.ports import free_port

PCAPS = Path("/usr/share/sip-tester")
KEY_NAMES = {"*": "star", "#": "pound"}

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr caller with RFC 2833 DTMF">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <pause milliseconds="{wait_ms}"/>
{keys}
  <recv request="BYE" timeout="30000"/>
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

KEY = """  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{gap_ms}"/>"""


def scenario(keys: str, wait_ms: int = 2000, gap_ms: int = 300) -> str:
    """A caller pressing ``keys``, each a separate RFC 2833 event (a key pressed twice in a row
    would repeat the capture's RTP timestamp, which a receiver takes as the same press)."""
    presses = []
    for key in keys:
        pcap = PCAPS / f"dtmf_2833_{KEY_NAMES.get(key, key)}.pcap"
        presses.append(KEY.format(pcap=pcap, gap_ms=gap_ms))
    return SCENARIO.format(wait_ms=wait_ms, keys="\n".join(presses))


def call(sip_port: int, exten: str, keys: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "uac_dtmf.xml"
    path.write_text(scenario(keys))
    command = ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(path), "-s", exten, "-m", "1",
               "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1",
               "-mp", str(free_port(socket.SOCK_DGRAM)), "-timeout", "40s", "-timeout_error", "-nostdin",
               "-trace_err", "-error_file", str(folder / "sipp-errors.log")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=folder)

