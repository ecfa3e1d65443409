"""The dialplan's gate before ``Stasis()`` (``[ivr-stasis]`` in dialplan/asterisk/extensions.conf).

While admission control turns calls away, the app closes its gate (the global variable
``IVR_CLOSED_<app>`` = 1): the dialplan then passes the next callers to the next app, or to the
fallback, without entering this one. Measured at a rush of twice the app's limit, each call the
app turned away itself still cost Asterisk a StasisStart, a request and the events of leaving,
and Asterisk, not the app, was what ran out. The dialplan counts the calls it passed by
(``IVR_GATED_<app>``, under a LOCK so that no increment is lost); the app adds them to its count
of calls turned away, under the limit that closed the gate.

While closed, the app probes Asterisk every PROBE_EVERY seconds with a user event (the request's
time and the event's delay are what admission control measures, even with no call in progress)
and opens the gate once every measure is well below its limit (``Admission.clears``). A request
that fails is tried again at the next probe: a gate left closed would send every caller to the
fallback.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from ivr.ari.rest import AriError, AriRest
from ivr.core.admission import Refusal

log = logging.getLogger("ivr.gate")

PROBE_EVERY = 0.5
PROBE_EVENT = "ivr-probe"
"""The user event's name; the app reads it only for its delay."""


def closed_variable(app: str) -> str:
    return f"IVR_CLOSED_{app}"


def gated_variable(app: str) -> str:
    return f"IVR_GATED_{app}"


class DialplanGate:
    def __init__(self, rest: AriRest, app: str, clears: Callable[[], bool], turned_away: Counter[str],
                 probe_every: float = PROBE_EVERY) -> None:
        """``clears()``: whether every measure is well below its limit now; ``turned_away``: the
        app's count of calls turned away, by limit, that the calls the dialplan passed by join."""
        self.rest = rest
        self.app = app
        self.clears = clears
        self.turned_away = turned_away
        self.probe_every = probe_every
        self.closed_by: Refusal | None = None
        """The refusal that closed the gate, None while open."""
        self.closings = 0
        self._counted = 0
        """``IVR_GATED_<app>`` as last read."""
        self._wanted = asyncio.Event()

    def close(self, refusal: Refusal) -> None:
        """Admission control refused a call: the gate closes, unless it already is."""
        if self.closed_by is None:
            self.closed_by = refusal
            self.closings += 1
            self._wanted.set()

    async def connected(self) -> None:
        """On every connect: the gate as the app has it (open after a restart of either side),
        and the dialplan's count from here."""
        try:
            await self.rest.set_global(closed_variable(self.app), "1" if self.closed_by else "0")
            self._counted = _number(await self.rest.get_global(gated_variable(self.app)))
        except (AriError, OSError) as exc:
            log.warning("dialplan gate: not set on connecting (%s); the next probe sets it", exc)
            self._wanted.set()

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            refusal = self.closed_by
            if refusal is None:
                await self._keep_trying(lambda: self._open(""))
                continue
            log.warning("dialplan gate closed: %s; new callers go to the next app or the fallback", refusal.why)
            await self._keep_trying(self._close)
            while not await self._cleared(refusal.limit):
                await asyncio.sleep(self.probe_every)
            self.closed_by = None
            await self._keep_trying(lambda: self._open(refusal.limit))
            log.warning("dialplan gate open again; %d call(s) passed by while %s refused",
                        self.turned_away[refusal.limit], refusal.limit)

    async def shut(self) -> None:
        """On stopping: the gate open, as an app that is not running leaves it."""
        if (refusal := self.closed_by) is not None:
            self.closed_by = None
            try:
                await self._open(refusal.limit)
            except (AriError, OSError) as exc:
                log.warning("dialplan gate: not opened on stopping (%s); the next start opens it", exc)

    async def _cleared(self, limit: str) -> bool:
        try:
            await self.rest.user_event(self.app, PROBE_EVENT)
            await self._count(limit)
        except (AriError, OSError) as exc:
            log.warning("dialplan gate: probe failed: %s", exc)
            return False
        return self.clears()

    async def _close(self) -> None:
        await self.rest.set_global(closed_variable(self.app), "1")

    async def _open(self, limit: str) -> None:
        """Open, and the calls passed by until then counted under ``limit`` (none if empty)."""
        await self.rest.set_global(closed_variable(self.app), "0")
        await self._count(limit)

    async def _count(self, limit: str) -> None:
        gated = _number(await self.rest.get_global(gated_variable(self.app)))
        # Lower than last read: Asterisk restarted, and counted from 0 again.
        passed = gated - self._counted if gated >= self._counted else gated
        self._counted = gated
        if passed and limit:
            self.turned_away[limit] += passed

    async def _keep_trying(self, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await step()
                return
            except (AriError, OSError) as exc:
                log.warning("dialplan gate: %s", exc)
                await asyncio.sleep(self.probe_every)


def _number(value: str) -> int:
    return int(value) if value.isdigit() else 0
