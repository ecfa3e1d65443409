"""Backend-run campaigns' commands carried out: the call handed to the customer's backend (a signed
POST with the call's data and its control URL), and call events put in the outbox that delivers
them to the backend's webhook in order, at least once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from ivr.backend.delivery import Delivery
from ivr.backend.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ivr.core.destinations import Destination
from ivr.core.distribution import commands as cmd
from ivr.core.distribution import events as evt
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.store.backend_calls import BackendCalls
from ivr.store.backend_events import EventOutbox

log = logging.getLogger("ivr.backend")


class BackendCallsRun:
    def __init__(self, calls: BackendCalls, outbox: EventOutbox, http: aiohttp.ClientSession,
                 flow: Callable[[], Flow], public_url: str, feed: Callable[[evt.DistributionEvent], None],
                 spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
                 environ: Mapping[str, str] = os.environ) -> None:
        self.calls = calls
        self.outbox = outbox
        self.http = http
        self.flow = flow
        self.public_url = public_url.rstrip("/")
        self.feed = feed
        self.spawn = spawn
        self.environ = environ
        self.delivery = Delivery(outbox, http, self.secret_for)
        self._told: dict[str, asyncio.Task[None]] = {}

    def secret_for(self, campaign: str) -> str | None:
        node = self.flow().nodes.get(Destination("campaign", campaign))
        if not isinstance(node, Campaign) or not node.backend_secret_env:
            return None
        return self.environ.get(node.backend_secret_env) or None

    def carry_out(self, command: cmd.DistributionCommand) -> bool:
        match command:
            case cmd.HandToBackend():
                self.spawn(self._hand_over(command))
            case cmd.TellBackend():
                self._tell(command)
            case _:
                return False
        return True

    async def run(self) -> None:
        """Until cancelled: the outbox delivered."""
        await self.delivery.run()

    async def _hand_over(self, hand: cmd.HandToBackend) -> None:
        token = secrets.token_urlsafe(24)
        secret = self.secret_for(hand.campaign)
        try:
            if secret is None:
                raise ValueError("no signing secret (backend_secret_env is not set)")
            await self.calls.add(hand.call_id, hand.campaign, token)
            body = json.dumps({**dict(hand.data),
                               "control_url": f"{self.public_url}/control/{hand.call_id}/{token}"}).encode()
            stamp = str(int(time.time()))
            async with asyncio.timeout(hand.deadline), self.http.post(
                    hand.url, data=body, allow_redirects=False,
                    headers={"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                             SIGNATURE_HEADER: sign(secret, stamp, body)}) as answer:
                if not 200 <= answer.status < 300:
                    raise ValueError(f"HTTP {answer.status}")
        except TimeoutError:
            self.feed(evt.BackendAccepted(hand.call_id, f"no answer within {hand.deadline:g} s"))
        except (ValueError, aiohttp.ClientError, SQLAlchemyError, OSError) as exc:
            self.feed(evt.BackendAccepted(hand.call_id, str(exc) or type(exc).__name__))
        else:
            self.feed(evt.BackendAccepted(hand.call_id))

    def _tell(self, tell: cmd.TellBackend) -> None:
        """Added to the outbox one after the other per call, so that their order is the call's."""
        before = self._told.get(tell.call_id)
        task = self.spawn(self._add(tell, before))
        self._told[tell.call_id] = task
        task.add_done_callback(lambda done: self._told.pop(tell.call_id, None)
                               if self._told.get(tell.call_id) is done else None)

    async def _add(self, tell: cmd.TellBackend, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait({before})
        try:
            await self.outbox.add(tell.call_id, tell.campaign, tell.url, tell.type, dict(tell.data))
        except (SQLAlchemyError, OSError) as exc:
            log.error("call %s: event %s for the backend not stored: %s", tell.call_id, tell.type, exc)
            return
        self.delivery.poke()
