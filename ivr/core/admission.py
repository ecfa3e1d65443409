"""Admission control: whether `ivr run` takes one more call, or turns it away at once to the
dialplan's fallback because it is already serving as many as it can. A call turned away is
served by the dialplan (a message, an operator, a queue of the admin's) instead of waiting on
an app that would answer it late; it is counted and recorded.

Five limits, each off at 0: calls in progress, calls started per second (``CallRate``: the
rate the app was measured to carry, ``ivr bench``), the event loop's lag (how late the app's own
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

The app also has the dialplan turn a share of new callers away before ``Stasis()``
(ivr.stasis.gate), the larger of two, stepped by ``Shedding``. Callers arriving faster than
``max_call_rate``: the share beyond it, so that about that rate reaches the app
(``rate_share``). And while a measure refuses: a share that grows by SHED_UP points at each
step, and falls by SHED_DOWN once every measure is well below its limit (``shed_share``):

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
>>> rate_share(arriving=80.0, max_call_rate=40.0), rate_share(arriving=30.0, max_call_rate=40.0)
(50, 0)
>>> rate_share(arriving=41.0, max_call_rate=40.0), rate_share(arriving=8000.0, max_call_rate=40.0)
(3, 99)

The app's own part of the rate limit is a token bucket, BURST seconds deep:

>>> rate = CallRate(max_call_rate=4, now=0.0)
>>> [rate.take(now=0.0) is None for _ in range(2)]
[True, False]
>>> rate.take(now=0.1).why
'more than 4 calls a second (admission.max_call_rate = 4)'
>>> rate.take(now=0.25) is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
RATE_LIMIT = "max_call_rate"
"""The limit of ``CallRate``, as ``Refusal.limit`` and ``Shedding.limit`` name it."""
MAX_RATE_SHARE = 99
"""The callers let in tell the rate they arrive at: with none, the share could not follow it."""
BURST = 0.25
"""Seconds of ``max_call_rate`` the app takes at once: callers arrive in clumps even at a
steady rate, but a second's worth at once is a rush the rate was not measured with."""


@dataclass(frozen=True)
class Refusal:
    limit: str
    """The setting that refused: ``max_calls``, ``max_call_rate``, ``max_loop_lag``,
    ``max_event_delay`` or ``max_request_time``."""
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


class CallRate:
    """At most ``max_call_rate`` new calls a second (off at 0), BURST seconds' worth at once."""

    def __init__(self, max_call_rate: float, now: float) -> None:
        self.max_call_rate = max_call_rate
        self.depth = max(1.0, max_call_rate * BURST)
        self.tokens = self.depth
        self.at = now

    def take(self, now: float) -> Refusal | None:
        """One call's room taken, or why there is none now (the call is turned away)."""
        if not self.max_call_rate:
            return None
        self.tokens = min(self.depth, self.tokens + (now - self.at) * self.max_call_rate)
        self.at = now
        if self.tokens < 1:
            return Refusal(RATE_LIMIT, f"more than {self.max_call_rate:g} calls a second "
                                            f"(admission.max_call_rate = {self.max_call_rate:g})")
        self.tokens -= 1
        return None


def rate_share(arriving: float, max_call_rate: float) -> int:
    """The percentage of callers arriving at ``arriving`` a second to turn away in the dialplan,
    so that at most ``max_call_rate`` a second reach the app (0 with no limit), at most
    MAX_RATE_SHARE."""
    if not max_call_rate or arriving <= max_call_rate:
        return 0
    return min(MAX_RATE_SHARE, math.ceil(100 * (1 - max_call_rate / arriving)))


@dataclass
class Shedding:
    """The share of new callers the dialplan's gate turns away, steered step by step
    (ivr.stasis.gate carries it out): the larger of the share beyond ``max_call_rate`` and the
    share the measures ask for.

    >>> gate = Shedding(max_call_rate=40)
    >>> gate.step(arriving=80, held=0, refusal=None, clearing=True)  # no caller turned away yet
    0
    >>> gate.step(arriving=80, held=0, refusal=None, clearing=True, beyond_rate=True), gate.limit
    (50, 'max_call_rate')
    >>> gate.step(arriving=40, held=50, refusal=None, clearing=True)  # 80 arriving, half let in
    50
    >>> late = Refusal("max_loop_lag", "event loop 350 ms late (admission.max_loop_lag = 200 ms)")
    >>> [gate.step(arriving=40, held=50, refusal=late, clearing=False, refused=True) for _ in range(3)]
    [50, 50, 75]
    >>> gate.limit
    'max_loop_lag'
    """

    max_call_rate: float = 0.0
    share: int = 0
    limit: str = ""
    """The limit that sets the share, which the callers it turns away are counted under."""
    measured: int = 0
    """The share the measures ask for (``shed_share``)."""
    by_rate: int = 0
    """The share of callers arriving beyond ``max_call_rate`` (``rate_share``)."""
    _measured_limit: str = field(default="", repr=False)

    def step(self, arriving: float, held: int, refusal: Refusal | None, clearing: bool,
             refused: bool = False, beyond_rate: bool = False) -> int:
        """The share from now, from the callers that reached the app over the step (``arriving``
        a second, while Asterisk held the share ``held``), the measures' verdict now
        (``Admission.refuses``, ``Admission.clears``), and whether a measured limit (``refused``)
        or the call rate (``beyond_rate``) turned a caller away during the step. Neither share
        starts before a caller was turned away for it: at a limit with no caller, or a step's
        few callers that look like a rush, there is none to shed."""
        if not (self.measured or refused):
            refusal = None
        if refusal is not None:
            self._measured_limit = refusal.limit
        self.measured = shed_share(self.measured, refusal is not None, clearing)
        if held < 100 and (self.by_rate or beyond_rate):
            # At 100 no caller arrives to tell the rate: the share for it holds.
            self.by_rate = rate_share(arriving * 100 / (100 - held), self.max_call_rate)
        self.share = max(self.measured, self.by_rate)
        if self.share:
            self.limit = RATE_LIMIT if self.by_rate >= self.measured else self._measured_limit
        return self.share
