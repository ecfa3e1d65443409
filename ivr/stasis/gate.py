"""The dialplan's gate before ``Stasis()`` (``[ivr-stasis]`` in dialplan/asterisk/extensions.conf).

While admission control turns calls away, the app has the dialplan turn away a share of new
callers (the global variable ``IVR_SHED_<app>``, a percentage): they go on to the next app, or to
the fallback, without entering this one. Measured at a rush of twice the app's limit, each call
the app turned away itself still cost Asterisk a StasisStart, a request and the events of
leaving, and Asterisk, not the app, was what ran out; a gate only open or shut let a rush in
each time it opened. The dialplan counts the callers it turned away (``IVR_GATED_<app>``, under a
LOCK so that no increment is lost); the app adds them to its count of calls turned away, under
the limit that refused last.

While it sheds, the app probes Asterisk every PROBE_EVERY seconds with a user event (the
request's time and the event's delay are what admission control measures, even with no call in
progress) and steers the share (``ivr.core.admission.shed_share``) until it is 0 again. A request
that fails is tried again at the next probe: a share left in Asterisk would turn callers away
for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from ivr.ari.rest import AriError, AriRest
from ivr.core.admission import Refusal, shed_share

log = logging.getLogger("ivr.gate")

PROBE_EVERY = 0.5
PROBE_EVENT = "ivr-probe"
"""The user event's name; the app reads it only for its delay."""


def shed_variable(app: str) -> str:
    return f"IVR_SHED_{app}"


def gated_variable(app: str) -> str:
    return f"IVR_GATED_{app}"


class DialplanGate:
    def __init__(self, rest: AriRest, control: AriRest, app: str, refuses: Callable[[], Refusal | None],
                 clears: Callable[[], bool], turned_away: Counter[str],
                 probe_every: float = PROBE_EVERY) -> None:
        """``rest``: the calls' own client, whose time admission control measures (the probe
        goes through it); ``control``: a client of the gate's own for the share, so that a step
        does not wait behind the calls' requests (with Asterisk behind, it waited seconds).
        ``refuses()``/``clears()``: admission control's verdict on the measures now;
        ``turned_away``: the app's count of calls turned away, by limit, that the callers the
        dialplan turned away join."""
        self.rest = rest
        self.control = control
        self.app = app
        self.refuses = refuses
        self.clears = clears
        self.turned_away = turned_away
        self.probe_every = probe_every
        self.share = 0
        """The percentage of new callers the dialplan turns away, as Asterisk has it."""
        self.limit = ""
        """The limit that refused last, which the dialplan's count joins."""
        self._counted = 0
        """``IVR_GATED_<app>`` as last read."""
        self._wanted = asyncio.Event()
        self._refused = False
        """A call was turned away since the last probe."""
        self._rewrite = False
        """The share could not be written on connecting."""
        self._probing: asyncio.Task[bool] | None = None

    def refused(self, refusal: Refusal) -> None:
        """The app turned a call away: the dialplan starts shedding, unless it already does."""
        self.limit = refusal.limit
        self._refused = True
        self._wanted.set()

    async def connected(self) -> None:
        """On every connect: the share as the app has it (none after a restart of either
        side), and the dialplan's count from here."""
        if not await self._write(self.share) or not await self._probe(event=False):
            self._rewrite = True
            self._wanted.set()

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            while self._rewrite:
                if not await self._write(self.share):
                    await asyncio.sleep(self.probe_every)
            if not self._refused:
                continue
            await self._steer(shed_share(self.share, refusing=True, clearing=False))
            if not self.share:  # not written: the next call turned away tries again
                continue
            while self.share:
                await asyncio.sleep(self.probe_every)
                self._refused = False
                # Steered on the measures as they are (the calls' own requests and events keep
                # them fresh; the last probe's too), the probe not awaited: with Asterisk behind,
                # it takes seconds.
                refusal = self.refuses()
                if refusal is not None:
                    self.limit = refusal.limit
                if self._probing is None or self._probing.done():
                    self._probing = asyncio.create_task(self._probe(), name="dialplan-gate-probe")
                await self._steer(shed_share(self.share, refusal is not None, self.clears()))
            log.warning("dialplan gate: every caller let in again; %d call(s) turned away for %s so far",
                        self.turned_away[self.limit], self.limit)

    async def shut(self) -> None:
        """On stopping: no caller turned away for an app that is not running (the dialplan
        passes it by anyway), and the last of the count."""
        if self._probing is not None:
            self._probing.cancel()
        if self.share and not await self._write(0):
            log.warning("dialplan gate: left at %d%% on stopping; the next start sets it", self.share)
        await self._probe(event=False)

    async def _probe(self, event: bool = True) -> bool:
        """The user event sent (unless not ``event``) and the dialplan's count read, or False if
        a request failed. The only reader of the count: two reads in flight could come back out of
        order, and a count lower than the last is taken for Asterisk's restart."""
        try:
            if event:
                await self.rest.user_event(self.app, PROBE_EVENT)
            await self._count()
        except (AriError, OSError) as exc:
            log.warning("dialplan gate: probe failed: %s", exc)
            return False
        return True

    async def _steer(self, share: int) -> None:
        if share != self.share:
            if share and not self.share:
                log.warning("dialplan gate: turning %d%% of new callers away (%s)", share, self.limit)
            else:
                log.info("dialplan gate: turning %d%% of new callers away", share)
            await self._write(share)

    async def _write(self, share: int) -> bool:
        """The share set in Asterisk, or False if the request failed (the share as it was)."""
        try:
            await self.control.set_global(shed_variable(self.app), str(share))
            self.share = share
            self._rewrite = False
        except (AriError, OSError) as exc:
            log.warning("dialplan gate: %s", exc)
            return False
        return True

    async def _count(self) -> None:
        gated = _number(await self.rest.get_global(gated_variable(self.app)))
        # Lower than last read: Asterisk restarted, and counted from 0 again.
        passed = gated - self._counted if gated >= self._counted else gated
        self._counted = gated
        if passed and self.limit:
            self.turned_away[self.limit] += passed


def _number(value: str) -> int:
    return int(value) if value.isdigit() else 0
