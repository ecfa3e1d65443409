"""The dialplan's gate before ``Stasis()`` (``[ivr-stasis]`` in dialplan/asterisk/extensions.conf).

The app has the dialplan turn away a share of new callers (the global variable
``IVR_SHED_<app>``, a percentage): they go on to the next app, or to the fallback, without
entering this one. Measured at a rush of twice the app's limit, each call the app turned away
itself still cost Asterisk a StasisStart, a request and the events of leaving, and Asterisk, not
the app, was what ran out; a gate only open or shut let a rush in each time it opened. The
dialplan counts the callers it turned away (``IVR_GATED_<app>``, under a LOCK so that no
increment is lost); the app counts them as turned away under the limit that set the share.

Every STEP seconds the app steers the share (ivr.core.admission): the larger of the share of
callers arriving beyond ``max_call_rate`` (the callers the app saw, scaled by the share that let
them in) and the share admission control's measures ask for. While it sheds, each step probes
Asterisk: the dialplan's count read and, while a measure asks for a share, a user event whose
request time and delay keep the measures fresh with no call in progress. A write that fails is
tried again at the next step: a share left in Asterisk would turn callers away for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from ivr.ari.rest import AriError, AriRest
from ivr.core.admission import RATE_LIMIT, Refusal, Shedding

log = logging.getLogger("ivr.gate")

STEP = 0.5
PROBE_EVENT = "ivr-probe"
"""The user event's name; the app reads it only for its delay."""


def shed_variable(app: str) -> str:
    return f"IVR_SHED_{app}"


def gated_variable(app: str) -> str:
    return f"IVR_GATED_{app}"


class DialplanGate:
    def __init__(self, rest: AriRest, control: AriRest, app: str, refuses: Callable[[], Refusal | None],
                 clears: Callable[[], bool], max_call_rate: float = 0.0, step: float = STEP,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``rest``: the calls' own client, whose time admission control measures (the probe
        goes through it); ``control``: a client of the gate's own for the share, so that a step
        does not wait behind the calls' requests (with Asterisk behind, it waited seconds).
        ``refuses()``/``clears()``: admission control's verdict on the measures now."""
        self.rest = rest
        self.control = control
        self.app = app
        self.refuses = refuses
        self.clears = clears
        self.step = step
        self.clock = clock
        self.shedding = Shedding(max_call_rate)
        self.turned_away: Counter[str] = Counter()
        """Callers the dialplan turned away, by the limit that set the share: a metric."""
        self._arrived = 0
        self._since = clock()
        """When the callers of ``_arrived`` started counting: a step that waited on a slow write
        is longer than ``step``."""
        self._refused = False
        self._beyond_rate = False
        self._held: int | None = None
        """The share as Asterisk holds it; None when not known (a failed write, a connect)."""
        self._counted = 0
        """``IVR_GATED_<app>`` as last read."""
        self._probing: asyncio.Task[bool] | None = None

    @property
    def share(self) -> int:
        """The percentage of new callers the dialplan should turn away."""
        return self.shedding.share

    def arrive(self, refusal: Refusal | None) -> None:
        """A new caller reached the app, taken (None) or turned away."""
        self._arrived += 1
        if refusal is not None:
            if refusal.limit == RATE_LIMIT:
                self._beyond_rate = True
            else:
                self._refused = True

    async def connected(self) -> None:
        """On every connect: the share as the app has it (none after a restart of either
        side), and the dialplan's count from here."""
        self._held = None
        await self._write()
        await self._probe(event=False)

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await asyncio.sleep(self.step)
            await self.steer()

    async def steer(self) -> None:
        """One step: the share from the callers of the step and the measures now, written to
        Asterisk if it differs from what Asterisk holds; then, while it sheds, the probe, not
        awaited (with Asterisk behind it takes seconds) and one at a time."""
        held, before, now = self._held or 0, self.share, self.clock()
        arriving = self._arrived / max(now - self._since, self.step)
        share = self.shedding.step(arriving, held, self.refuses(), self.clears(),
                                   refused=self._refused, beyond_rate=self._beyond_rate)
        self._arrived, self._since, self._refused, self._beyond_rate = 0, now, False, False
        limit = self.shedding.limit
        if share and not before:
            log.warning("dialplan gate: turning %d%% of new callers away (%s)", share, limit)
        elif before and not share:
            log.warning("dialplan gate: every caller let in again; %d call(s) turned away for %s so far",
                        self.turned_away[limit], limit)
        elif share != before:
            log.info("dialplan gate: turning %d%% of new callers away (%s)", share, limit)
        if self._held != share:
            await self._write()
        if (share or held) and (self._probing is None or self._probing.done()):
            self._probing = asyncio.create_task(self._probe(event=self.shedding.measured > 0),
                                                name="dialplan-gate-probe")

    async def shut(self) -> None:
        """On stopping: no caller turned away for an app that is not running (the dialplan
        passes it by anyway), and the last of the count."""
        if self._probing is not None:
            self._probing.cancel()
        self.shedding.share = 0
        if self._held != 0 and not await self._write():
            log.warning("dialplan gate: left at %s%% on stopping; the next start sets it", self._held)
        await self._probe(event=False)

    async def _probe(self, event: bool) -> bool:
        """The user event sent (if ``event``) and the dialplan's count read, or False if a
        request failed. The only reader of the count: two reads in flight could come back out of
        order, and a count lower than the last is taken for Asterisk's restart."""
        try:
            if event:
                await self.rest.user_event(self.app, PROBE_EVENT)
            gated = _number(await self.rest.get_global(gated_variable(self.app)))
        except (AriError, OSError) as exc:
            log.warning("dialplan gate: probe failed: %s", exc)
            return False
        # Lower than last read: Asterisk restarted, and counted from 0 again.
        passed = gated - self._counted if gated >= self._counted else gated
        self._counted = gated
        if passed and self.shedding.limit:
            self.turned_away[self.shedding.limit] += passed
        return True

    async def _write(self) -> bool:
        """The share set in Asterisk, or False if the request failed (tried at the next step)."""
        share = self.share
        try:
            await self.control.set_global(shed_variable(self.app), str(share))
        except (AriError, OSError) as exc:
            self._held = None
            log.warning("dialplan gate: %s", exc)
            return False
        self._held = share
        return True


def _number(value: str) -> int:
    return int(value) if value.isdigit() else 0
