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

While it refuses, the app also has the dialplan turn a share of new callers away before
``Stasis()`` (ivr.stasis.gate): the share grows by SHED_UP points at each probe while a limit
refuses, and falls by SHED_DOWN once every measure is well below its limit:

>>> limits = Admission(max_calls=100, max_loop_lag=0.2)
>>> limits.clears(calls=95, loop_lag=0.0, event_delay=0.0)
False
>>> limits.clears(calls=80, loop_lag=0.15, event_delay=0.0)
False
>>> limits.clears(calls=89, loop_lag=0.09, event_delay=3.0)
True
>>> [shed_share(share, refusing, clearing) for share, refusing, clearing in
...  [(0, True, False), (90, True, False), (40, False, False), (40, False, True), (3, False, True)]]
[25, 100, 40, 35, 0]
"""

from __future__ import annotations

from dataclasses import dataclass

CLEAR_TIME = 0.5
"""The share of a time limit (loop lag, event delay, request time) that the measure must fall
under before the dialplan sheds fewer callers: Asterisk's ARI and the loop are either fast (a
few ms) or behind (hundreds), and between the two the share holds."""
CLEAR_CALLS = 0.9
"""The share of ``max_calls`` under which the dialplan sheds fewer callers."""
SHED_UP = 25
"""Percentage points of new callers the dialplan turns away, added at each probe while a limit
refuses: at twice its capacity the app sheds half within a second."""
SHED_DOWN = 5
"""Points taken off at each probe while every measure clears: slower than the climb, so that a
load that would overload the app again is met before it does."""


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
        """Every measure well below its limit (CLEAR_TIME, CLEAR_CALLS): the dialplan can shed
        fewer callers."""
        calls_limit = max(1, int(self.max_calls * CLEAR_CALLS)) if self.max_calls else 0
        margin = Admission(calls_limit, self.max_loop_lag * CLEAR_TIME, self.max_event_delay * CLEAR_TIME,
                           self.max_request_time * CLEAR_TIME)
        return margin.refuses(calls, loop_lag, event_delay, request_time) is None


def shed_share(share: int, refusing: bool, clearing: bool) -> int:
    """The percentage of new callers the dialplan turns away from now, from the last one and
    whether a limit refuses (``Admission.refuses``) or every measure clears."""
    if refusing:
        return min(100, share + SHED_UP)
    if clearing:
        return max(0, share - SHED_DOWN)
    return share
