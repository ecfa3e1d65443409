"""Pull campaigns' commands carried out: the pulled call stored, the staff texted through the SMS
gateway, the call reopened or closed; and the claims won on this node's calls (by a reply that
reached any node, or through the API) fed back to the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

from sqlalchemy.exc import SQLAlchemyError

from ivr.core.distribution import commands as cmd
from ivr.core.distribution import events as evt
from ivr.core.distribution.engine import Distribution
from ivr.core.pull import Action
from ivr.sms.gateway import SmsError, SmsGateway
from ivr.store.pulls import PullStore

log = logging.getLogger("ivr.pull")

POLL_SECONDS = 1.0
"""How soon a claim won through another node is carried out, while pulled calls wait here."""
NO_GATEWAY = "no SMS gateway is configured ([sms] gateway)"


class Pulls:
    def __init__(self, store: PullStore, sms: SmsGateway | None, engine: Distribution,
                 feed: Callable[[evt.DistributionEvent], None],
                 spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
        self.store = store
        self.sms = sms
        self.engine = engine
        self.feed = feed
        self.spawn = spawn
        self._poke = asyncio.Event()

    def carry_out(self, command: cmd.DistributionCommand) -> bool:
        match command:
            case cmd.OpenPull():
                self.spawn(self._open(command))
            case cmd.TextStaff():
                self.spawn(self._text(command))
            case cmd.ReopenPull(code=code):
                self.spawn(self._store(self.store.reopen(code), f"call {code} not reopened"))
            case cmd.ClosePull(code=code, outcome=outcome):
                self.spawn(self._store(self.store.close(code, outcome), f"call {code} not closed"))
            case _:
                return False
        return True

    def poke(self) -> None:
        """A claim on a call of this node won just now: look at once."""
        self._poke.set()

    async def run(self) -> None:
        """Until cancelled: claims won on this node's calls carried out."""
        while True:
            try:
                # Not wait_for: on Python 3.11 it loses a cancellation that comes as the poke does,
                # and `ivr run` would wait for this task forever at its stop.
                async with asyncio.timeout(POLL_SECONDS):
                    await self._poke.wait()
            except TimeoutError:
                pass
            self._poke.clear()
            if not any(item.pull is not None for item in self.engine.items.values()):
                continue
            try:
                claimed = await self.store.claimed()
            except (SQLAlchemyError, OSError) as exc:
                log.error("claims on pulled calls not read: %s", exc)
                continue
            for call in claimed:
                action = cast(Action, call.action)
                self.feed(evt.CallPulled(call.call_id, call.code, call.taker, action, call.via))

    async def _open(self, call: cmd.OpenPull) -> None:
        try:
            code = await self.store.open(call.call_id, call.campaign, call.caller, call.name, call.location)
        except (SQLAlchemyError, OSError) as exc:
            self.feed(evt.PullOpened(call.call_id, None, f"{type(exc).__name__}: {exc}"))
            return
        self.feed(evt.PullOpened(call.call_id, code))

    async def _text(self, text: cmd.TextStaff) -> None:
        error = ""
        try:
            if text.call_id and await self.store.opted_out([text.number]):
                error = "opted out of SMS notifications"
            elif self.sms is None:
                error = NO_GATEWAY
            else:
                await self.sms.send(text.number, text.text)
        except (SmsError, SQLAlchemyError, OSError) as exc:
            error = str(exc)
        if error:
            log.warning("SMS to %s (%s) not sent: %s", text.agent, text.number, error)
        if text.call_id:
            self.feed(evt.StaffTexted(text.call_id, text.agent, error))

    @staticmethod
    async def _store(request: Coroutine[Any, Any, object], what: str) -> None:
        try:
            await request
        except (SQLAlchemyError, OSError) as exc:
            log.error("%s: %s", what, exc)
