"""Call events delivered to the backends' webhooks from the outbox, in their own task: signed
POSTs, at least once, each call's events one after the other, retried with a growing delay.

Calls are independent: up to ``concurrency`` calls' events are in flight at once, and an event
that fails or hangs holds back only its own call's later events (the outbox hands out no other).
Nothing here raises out of ``run``: a backend's failure is stored on the event and retried, a
database error logged and retried on the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from ivr.backend.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ivr.http_exchange import HttpFailure, exchange
from ivr.store.backend_events import EventOutbox, PendingEvent

log = logging.getLogger("ivr.backend")

POLL_SECONDS = 1.0
"""How soon an event is looked at when nobody pokes (e.g. one added through another path)."""
CONCURRENCY = 8
BATCH = 50
MAX_BACKOFF = 60.0
MAX_ANSWER = 1024


class Undelivered(Exception):
    """The backend did not take the event: the message says what it answered, or that it did not."""


def exponential_backoff(attempts: int) -> float:
    """Seconds until an event that has failed ``attempts`` times is tried again.

    >>> [exponential_backoff(n) for n in (1, 2, 3, 6, 7, 100)]
    [1.0, 2.0, 4.0, 32.0, 60.0, 60.0]
    """
    return min(MAX_BACKOFF, 2.0 ** min(attempts - 1, 16))


def worth_logging(attempts: int) -> bool:
    """Whether a failure is logged: a backend down for an hour is not worth a line per retry.

    >>> [n for n in range(1, 41) if worth_logging(n)]
    [1, 5, 10, 20, 30, 40]
    """
    return attempts in (1, 5) or attempts % 10 == 0


class Delivery:
    def __init__(self, outbox: EventOutbox, http: aiohttp.ClientSession,
                 secret_for: Callable[[str], str | None], timeout: float = 5.0,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC),
                 backoff: Callable[[int], float] = exponential_backoff,
                 concurrency: int = CONCURRENCY) -> None:
        self.outbox = outbox
        self.http = http
        self.secret_for = secret_for
        self.timeout = timeout
        self.wall = wall
        self.backoff = backoff
        self.concurrency = concurrency
        self._poke = asyncio.Event()
        self._busy: set[str] = set()

    def poke(self) -> None:
        """An event was just added, or a call's delivery finished: look at once."""
        self._poke.set()

    async def run(self) -> None:
        """Until cancelled (which cancels the deliveries in flight: those are sent again later)."""
        async with asyncio.TaskGroup() as group:
            while True:
                self._poke.clear()
                await self._round(group)
                await self._rest()

    async def _rest(self) -> None:
        """Until poked, or ``POLL_SECONDS``. Not ``asyncio.wait_for``: on Python 3.11 it returns the
        result instead of raising when the task is cancelled just as the awaited finishes, so a
        delivery cancelled as it was poked (an event delivered, a retry due) lost the cancellation
        and ran on, and its canceller (``ivr run`` stopping) waited for it for ever."""
        try:
            async with asyncio.timeout(POLL_SECONDS):
                await self._poke.wait()
        except TimeoutError:
            pass

    async def _round(self, group: asyncio.TaskGroup) -> None:
        # A call busy when the query starts may finish during it, leaving the query's row of it
        # stale (already delivered): such calls wait for the next round, which their end pokes.
        busy = set(self._busy)
        try:
            events = await self.outbox.due(BATCH + len(busy))
        except (SQLAlchemyError, OSError) as exc:
            log.error("backend events not read: %s", exc)
            return
        for event in events:
            if len(self._busy) >= self.concurrency:
                return
            if event.call_id not in busy:
                self._busy.add(event.call_id)
                group.create_task(self._deliver(event))

    async def _deliver(self, event: PendingEvent) -> None:
        try:
            await self._attempt(event)
        except (SQLAlchemyError, OSError) as exc:
            log.error("event %d of call %s (id %s): outcome not stored: %s", event.seq, event.call_id,
                      event.id, exc)
        finally:
            self._busy.discard(event.call_id)

    async def _attempt(self, event: PendingEvent) -> None:
        secret = self.secret_for(event.campaign)
        if secret is None:
            error = f"campaign {event.campaign!r} has no webhook secret (is it still configured?)"
            return await self._failed(event, error, logging.ERROR)
        try:
            await self._post(event, secret)
        except Undelivered as exc:
            return await self._failed(event, str(exc), logging.WARNING)
        await self.outbox.delivered(event.id)
        if event.attempts:
            log.info("backend %s answers again: event %d of call %s delivered after %d failed attempts",
                     event.url, event.seq, event.call_id, event.attempts)
        self.poke()

    async def _failed(self, event: PendingEvent, error: str, level: int) -> None:
        attempts = event.attempts + 1
        delay = self.backoff(attempts)
        await self.outbox.failed(event.id, error, self.wall() + timedelta(seconds=delay))
        if worth_logging(attempts):
            log.log(level, "event %d of call %s (id %s) not delivered to %s, attempt %d, next in %g s: %s",
                    event.seq, event.call_id, event.id, event.url, attempts, delay, error)
        asyncio.get_running_loop().call_later(delay, self.poke)

    async def _post(self, event: PendingEvent, secret: str) -> None:
        body = event.body.encode()
        timestamp = str(int(self.wall().timestamp()))
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event.id, TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(secret, timestamp, body)}
        try:
            await exchange(self.http, "POST", event.url, self.timeout, data=body, headers=headers,
                           max_answer=MAX_ANSWER)
        except HttpFailure as exc:
            raise Undelivered(str(exc)) from exc
