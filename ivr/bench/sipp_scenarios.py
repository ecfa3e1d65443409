"""SIPp scenarios of the benchmarks: callers that send a customer id as RFC 2833 DTMF (the
`sip-tester` captures) and hang up a while later, and one agent pool that answers every call;
for `ivr bench contention`, callers who wait until the agent hangs up, and agents' phones that
ring a moment, answer, talk and hang up."""

from __future__ import annotations

from pathlib import Path

PCAPS = Path("/usr/share/sip-tester")
CUSTOMER_ID = "1357"
"""Four keys in rising order: each capture carries its own RTP timestamp, and Asterisk drops
an event older than the last one it took, so a key may only follow a lower one."""

# A caller: the INVITE (G.711 and RFC 2833 events), the ACK, a pause, then the keys. The tests'
# SIPp caller (tests/integration/sipp.py) ends it its own way.
CALL_SETUP = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:caller[call_number]@[local_ip]:[local_port]
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
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:caller[call_number]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <pause milliseconds="{wait_ms}"/>
{keys}
"""

HANG_UP = """  <pause milliseconds="{hold_ms}"/>
  <send retrans="500"><![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:caller[call_number]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

KEY = """  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{gap_ms}"/>"""
KEY_NAMES = {"*": "star", "#": "pound"}

# An agent's phone: its answers to the request just received. The tests' agents
# (tests/integration/sip_agents.py) also refuse, ring until cancelled and hang up.
REPLY = """  <send><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{tag}
      [last_Call-ID:]
      {cseq}
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{body}  ]]></send>
"""
SDP = """      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
"""
NO_BODY = "      Content-Length: 0\n"
SAME_CSEQ = "[last_CSeq:]"


def reply(status: str, *, sdp: bool = False, in_dialog: bool = False, cseq: str = SAME_CSEQ) -> str:
    """The phone's answer: a new dialog's gets the phone's To tag; one inside the dialog (to a
    BYE) keeps the To it was sent.

    >>> text = reply("200 OK", sdp=True)
    >>> "[last_To:];tag=" in text, "m=audio [media_port] RTP/AVP 0" in text
    (True, True)
    >>> ";tag=" in reply("200 OK", in_dialog=True)
    False
    """
    return REPLY.format(status=status, tag="" if in_dialog else ";tag=[pid]SIPpTag01[call_number]",
                        cseq=cseq, body=SDP if sdp else NO_BODY)


# An agent's phone hanging up: the dialog's From and To kept from the ACK, swapped in the BYE
# (the INVITE must be received with rrs="true", for [next_url]).
ACK_KEEPING_DIALOG = """  <recv request="ACK">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="agent"/>
    </action>
  </recv>
"""
AGENT_HANGS_UP = """  <send><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$agent]
      To: [$caller]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
"""

AGENT_POOL = ("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="benchmark agent pool: answers every call at once">
  <recv request="INVITE"/>
""" + reply("200 OK", sdp=True) + """  <recv request="ACK"/>
  <recv request="BYE"/>
""" + reply("200 OK", in_dialog=True) + "</scenario>\n")


def caller(hold_ms: int, wait_ms: int = 600, gap_ms: int = 250, keys: str = CUSTOMER_ID) -> str:
    """A caller who waits ``wait_ms`` after the answer (the prompt is a short beep), presses
    ``keys`` ``gap_ms`` apart, then stays ``hold_ms`` before hanging up.

    >>> text = caller(hold_ms=5000)
    >>> text.count("play_pcap_audio"), "dtmf_2833_7.pcap" in text, '<pause milliseconds="5000"/>' in text
    (4, True, True)
    """
    if list(keys) != sorted(set(keys)):
        raise ValueError(f"keys {keys!r}: each must be higher than the one before (RFC 2833 timestamps)")
    return (CALL_SETUP.format(name="benchmark caller", wait_ms=wait_ms, keys=presses(keys, gap_ms))
            + HANG_UP.format(hold_ms=hold_ms))


def presses(keys: str, gap_ms: int) -> str:
    """Each key a separate RFC 2833 event from its capture, ``gap_ms`` apart."""
    return "\n".join(KEY.format(pcap=PCAPS / f"dtmf_2833_{KEY_NAMES.get(key, key)}.pcap", gap_ms=gap_ms)
                     for key in keys)


def busy_agent(ring_ms: int, talk_ms: int) -> str:
    """Agents' phones (one SIPp process behind every agent's address) that ring ``ring_ms``,
    answer, talk ``talk_ms`` give or take a tenth, and hang up. Calls of one fixed length
    would keep the agents' ends in step with a queue's periodic checks, run after run.

    >>> text = busy_agent(ring_ms=2000, talk_ms=5000)
    >>> text.index("180 Ringing") < text.index('"2000"') < text.index("200 OK") < text.index("BYE")
    True
    >>> '<pause distribution="uniform" min="4500" max="5500"/>' in text
    True
    """
    return ("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent who rings, answers, talks and hangs up">
  <recv request="INVITE" rrs="true"/>
""" + reply("180 Ringing") + f'  <pause milliseconds="{ring_ms}"/>\n' + reply("200 OK", sdp=True)
            + ACK_KEEPING_DIALOG + f'  <pause distribution="uniform" min="{talk_ms - talk_ms // 10}" '
            f'max="{talk_ms + talk_ms // 10}"/>\n' + AGENT_HANGS_UP + "</scenario>\n")


def waiting_caller() -> str:
    """A caller who waits, however long, until the other side hangs up.

    >>> text = waiting_caller()
    >>> "play_pcap_audio" in text, text.rstrip().endswith("</scenario>")
    (False, True)
    """
    return (CALL_SETUP.format(name="caller waiting for an agent", wait_ms=0, keys="")
            + '  <recv request="BYE"/>\n' + reply("200 OK", in_dialog=True) + "</scenario>\n")
