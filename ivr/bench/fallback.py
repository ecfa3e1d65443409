"""Callers the dialplan fallback took (admission control turned them away): a SIPp caller who
ends cleanly when Asterisk hangs up on it or refuses it as busy (the benchmark's fallback, a SIP
486 that costs Asterisk no media), and those calls told apart in Asterisk's events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ivr.bench import sipp_scenarios
from ivr.bench.ami_events import Event
from ivr.bench.call_timings import CALLER_PREFIX, CallTiming, legs_by_call, timing
from ivr.bench.sipp_scenarios import reply

FALLBACK_CONTEXT = "ivr-fallback"
SENT_TO_FALLBACK = "sent to the fallback"
SIP_REFUSALS = ("caller not answered", "never reached Asterisk")
"""Failures where the caller got a SIP error (or nothing) instead of an answer."""

ANSWER = """  <recv response="200" rtd="true"/>
"""
PLAIN_END = """  <recv response="200" crlf="true"/>
</scenario>
"""
# SIPp matches a message the current step does not expect against the optional="global" <recv>
# steps *before* it: the BYE's step sits before the answer (a mandatory <recv>, as SIPp wants
# after an optional one), and jumps to answering the BYE at the end. A call the fallback hangs up
# at any step after the answer (a pause, a key) thus ends as a successful SIPp call; one refused
# with a 486 before the answer acknowledges it (same Via, as for any final answer but a 2xx).
BYE_AT_ANY_STEP = """  <recv request="BYE" optional="global" next="hung-up"/>
"""
REFUSED_BUSY = """  <recv response="486" optional="true" next="busy"/>
"""
OR_BE_HUNG_UP = """  <recv response="200" crlf="true" next="done"/>
  <label id="busy"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <nop next="done"/>
  <label id="hung-up"/>
{ok}  <label id="done"/>
</scenario>
"""


def caller(hold_ms: int) -> str:
    """The benchmark's caller (sipp_scenarios.caller: the keys, then ``hold_ms`` before hanging
    up), who also ends cleanly when Asterisk hangs up first (a fallback's message) or refuses the
    call as busy.

    >>> text = caller(hold_ms=5000)
    >>> text.count("play_pcap_audio"), '<pause milliseconds="5000"/>' in text
    (4, True)
    >>> (text.index('optional="global"') < text.index('rtd="true"') < text.index("play_pcap_audio")
    ...  < text.index('<label id="hung-up"/>') < text.index("SIP/2.0 200 OK"))
    True
    >>> text.index('response="486"') < text.index('rtd="true"') < text.index('<label id="busy"/>')
    True
    """
    plain = sipp_scenarios.caller(hold_ms)
    if ANSWER not in plain or not plain.endswith(PLAIN_END):
        raise RuntimeError("sipp_scenarios.caller changed: no 200 to the INVITE or to its BYE to anchor on")
    return (plain.replace(ANSWER, BYE_AT_ANY_STEP + REFUSED_BUSY + ANSWER).removesuffix(PLAIN_END)
            + OR_BE_HUNG_UP.format(ok=reply("200 OK", in_dialog=True)))


def fallback_callers(events: Iterable[Event]) -> set[str]:
    """Unique ids of the callers' channels that hung up in the fallback's context.

    >>> fallback_callers([{"Event": "Hangup", "Uniqueid": "1.1", "Channel": "PJSIP/loopback-01",
    ...                    "Context": "ivr-fallback"},
    ...                   {"Event": "Hangup", "Uniqueid": "1.2", "Channel": "PJSIP/agent-a1-02",
    ...                    "Context": "ivr-fallback"},
    ...                   {"Event": "Hangup", "Uniqueid": "1.3", "Channel": "PJSIP/loopback-03",
    ...                    "Context": "ivr-stasis"}])
    {'1.1'}
    """
    return {event.get("Uniqueid", "") for event in events
            if event.get("Event") == "Hangup" and event.get("Context") == FALLBACK_CONTEXT
            and event.get("Channel", "").startswith(CALLER_PREFIX)}


def call_outcomes(events: list[Event], digits: int) -> list[CallTiming]:
    """Each caller's timing, or SENT_TO_FALLBACK for one that ended in the fallback."""
    fallback = fallback_callers(events)
    return [CallTiming(SENT_TO_FALLBACK) if fallback & legs.keys() else found
            for legs in legs_by_call(events).values() if (found := timing(legs, digits)) is not None]


def breakdown(run: dict[str, Any]) -> dict[str, int]:
    """A run's callers: completed with an agent, sent to the fallback, refused with a SIP error
    (or never answered), and lost (none of these).

    >>> breakdown({"attempted": 10, "completed": 5, "failures": {
    ...     "sent to the fallback": 3, "never reached Asterisk": 1, "no agent answered": 1}})
    {'completed': 5, 'fallback': 3, 'refused': 1, 'lost': 1}
    """
    failures: dict[str, int] = run["failures"]
    fallback = failures.get(SENT_TO_FALLBACK, 0)
    refused = sum(count for why, count in failures.items() if why.startswith(SIP_REFUSALS))
    return {"completed": run["completed"], "fallback": fallback, "refused": refused,
            "lost": run["attempted"] - run["completed"] - fallback - refused}
