"""Agents as real SIP user agents: SIPp in server mode at a fixed address, for a few calls, that
answers (at once, or late: after ringing a moment), refuses (486 Busy Here), rings until
Asterisk gives up (CANCEL), or answers, talks for a moment and hangs up (BYE). The same stand in
for customers called back: one that answers, presses 1 (RFC 2833) and talks a moment, one that
answers and presses nothing."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Literal

from ivr.bench.sipp_scenarios import ACK_KEEPING_DIALOG, AGENT_HANGS_UP, presses, reply
from tests.ports import free_port

Behaviour = Literal["answer", "late", "busy", "ring", "brief", "accept", "silent"]

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent that {behaviour}s">
"""
INVITE = '  <recv request="INVITE"/>\n'
INVITE_KEEPING_CSEQ = """  <recv request="INVITE">
    <action><ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" assign_to="cseq"/></action>
  </recv>
"""
INVITE_CSEQ = "CSeq: [$cseq] INVITE"

TALK_MS = 1500
TALKS = f'  <pause milliseconds="{TALK_MS}"/>\n'
RING_MS = 1500
KEY_AFTER_MS = 2500
"""The customer presses the key this long after answering: during the prompt that asks for it."""
WITH_KEYS = reply("200 OK", sdp=True).replace("RTP/AVP 0\n", "RTP/AVP 0 101\n").replace(
    "a=rtpmap:0 PCMU/8000\n", "a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-15\n")

SCENARIOS: dict[str, str] = {
    "answer": (INVITE + reply("180 Ringing") + reply("200 OK", sdp=True)
               + '  <recv request="ACK"/>\n  <recv request="BYE"/>\n' + reply("200 OK", in_dialog=True)),
    "late": (INVITE + reply("180 Ringing") + f'  <pause milliseconds="{RING_MS}"/>\n' + reply("200 OK", sdp=True)
             + '  <recv request="ACK"/>\n  <recv request="BYE"/>\n' + reply("200 OK", in_dialog=True)),
    "brief": ('  <recv request="INVITE" rrs="true"/>\n' + reply("180 Ringing") + reply("200 OK", sdp=True)
              + ACK_KEEPING_DIALOG + TALKS + AGENT_HANGS_UP),
    "busy": INVITE + reply("486 Busy Here") + '  <recv request="ACK"/>\n',
    "accept": ('  <recv request="INVITE" rrs="true"/>\n' + reply("180 Ringing") + WITH_KEYS + ACK_KEEPING_DIALOG
               + f'  <pause milliseconds="{KEY_AFTER_MS}"/>\n' + presses("1", 250) + "\n"
               + TALKS + AGENT_HANGS_UP),
    "silent": (INVITE + reply("180 Ringing") + WITH_KEYS + '  <recv request="ACK"/>\n  <recv request="BYE"/>\n'
               + reply("200 OK", in_dialog=True)),
    "ring": (INVITE_KEEPING_CSEQ + reply("180 Ringing") + '  <recv request="CANCEL"/>\n' + reply("200 OK")
             + reply("487 Request Terminated", cseq=INVITE_CSEQ) + '  <recv request="ACK"/>\n'),
}


PROVIDER = """
[pstn]
type = aor
contact = sip:127.0.0.1:{port}

[pstn]
type = endpoint
context = ivr-agents
disallow = all
allow = ulaw
dtmf_mode = rfc4733
direct_media = no
aors = pstn
"""
"""A provider's trunk ``pstn`` (pbx.pjsip_include) whose numbers all reach one SipAgent."""


class SipAgent:
    """``sip:<name>@127.0.0.1:<port>``, the phone of one agent in the flow file."""

    def __init__(self, name: str, behaviour: Behaviour, folder: Path, calls: int = 1, seconds: int = 60) -> None:
        self.name = name
        self.port = free_port(socket.SOCK_DGRAM)
        self.folder = folder
        script = folder / f"agent-{name}.xml"
        script.write_text(HEAD.format(behaviour=behaviour) + SCENARIOS[behaviour]
                          + '  <ResponseTimeRepartition value="10"/>\n</scenario>\n')
        self.process = subprocess.Popen(
            ["sipp", "-sf", str(script), "-i", "127.0.0.1", "-p", str(self.port), "-m", str(calls),
             "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)), "-rtp_echo",
             "-timeout", f"{seconds}s", "-nostdin", "-trace_err", "-error_file", str(folder / f"{name}-errors.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=folder)

    @property
    def phone(self) -> str:
        return f"sip:{self.name}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)
