"""Admission control: whether `ivr run` takes one more call, or turns it away at once to the
dialplan's fallback because it is already serving as many as it can. A call turned away is
served by the dialplan (a message, an operator, a queue of the admin's) instead of waiting on
an app that would answer it late; it is counted and recorded.

Four limits, each off at 0: calls in progress, the event loop's lag (how late the app's own
short sleeps wake up: the app's CPU), the delay of ARI events (Asterisk's timestamp to the app
reading it: the app or the link falling behind), and the time ARI requests take (Asterisk's
ARI falling behind while the app and the link keep up: measured, at a rush of 160 calls a
second, callers answered 1.3 s late and gone before their agent was rung, with loop lag and
event delay below their limits most of the time).

>>> limits = Admission(max_calls=2, max_loop_lag=0.2)
>>> limits.refuses(calls=1, loop_lag=0.05, event_delay=3.0) is None
True
>>> limits.refuses(calls=2, loop_lag=0.05, event_delay=0.0)
Refusal(limit='max_calls', why='2 calls in progress (admission.max_calls = 2)')
>>> limits.refuses(calls=0, loop_lag=0.35, event_delay=0.0).why
'event loop 350 ms late (admission.max_loop_lag = 200 ms)'
>>> Admission(max_request_time=0.25).refuses(calls=0, loop_lag=0.0, event_delay=0.0, request_time=0.4).why
'ARI requests take 400 ms (admission.max_request_time = 250 ms)'

While it refuses, the app also closes the dialplan's gate before ``Stasis()`` (ivr.stasis.gate),
and opens it again only once every measure is well below its limit:

>>> limits = Admission(max_calls=100, max_loop_lag=0.2)
>>> limits.clears(calls=95, loop_lag=0.0, event_delay=0.0), limits.clears(calls=80, loop_lag=0.15, event_delay=0.0)
(False, False)
>>> limits.clears(calls=89, loop_lag=0.09, event_delay=3.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass

CLEAR_TIME = 0.5
"""The share of a time limit (loop lag, event delay, request time) that the measure must fall
under before the gate opens again: Asterisk's ARI and the loop are either fast (a few ms) or
behind (hundreds), and a gate opened at the limit closes again within the second."""
CLEAR_CALLS = 0.9
"""The share of ``max_calls``: the gate opens again once a tenth of the calls have ended, not
at every call's end (each closing and opening is a request to Asterisk)."""


@dataclass(frozen=True)
class Refusal:
    limit: str
    """The setting that refused: ``max_calls``, ``max_loop_lag``, ``max_event_delay`` or
    ``max_request_time``."""
    why: str


@dataclass(frozen=True)
class Admission:
    max_calls: int = 0
    max_loop_lag: float = 0.0
    max_event_delay: float = 0.0
    max_request_time: float = 0.0

    def refuses(self, calls: int, loop_lag: float, event_delay: float,
                request_time: float = 0.0) -> Refusal | None:
        """Why one more call is refused now, or None to take it."""
        if self.max_calls and calls >= self.max_calls:
            return Refusal("max_calls", f"{calls} calls in progress (admission.max_calls = {self.max_calls})")
        if self.max_loop_lag and loop_lag > self.max_loop_lag:
            return Refusal("max_loop_lag", f"event loop {loop_lag * 1000:.0f} ms late "
                                           f"(admission.max_loop_lag = {self.max_loop_lag * 1000:.0f} ms)")
        if self.max_event_delay and event_delay > self.max_event_delay:
            limit = self.max_event_delay * 1000
            return Refusal("max_event_delay", f"ARI events {event_delay * 1000:.0f} ms behind "
                                              f"(admission.max_event_delay = {limit:.0f} ms)")
        if self.max_request_time and request_time > self.max_request_time:
            limit = self.max_request_time * 1000
            return Refusal("max_request_time", f"ARI requests take {request_time * 1000:.0f} ms "
                                               f"(admission.max_request_time = {limit:.0f} ms)")
        return None

    def clears(self, calls: int, loop_lag: float, event_delay: float, request_time: float = 0.0) -> bool:
        """Every measure well below its limit (CLEAR_TIME, CLEAR_CALLS): a gate a refusal closed
        opens again."""
        calls_limit = max(1, int(self.max_calls * CLEAR_CALLS)) if self.max_calls else 0
        margin = Admission(calls_limit, self.max_loop_lag * CLEAR_TIME, self.max_event_delay * CLEAR_TIME,
                           self.max_request_time * CLEAR_TIME)
        return margin.refuses(calls, loop_lag, event_delay, request_time) is None
