"""Server-sent events with ids: a stream that drops (a network blip, a client too slow that the
server let go) reconnects with ``Last-Event-ID`` and gets what it missed, so no offer is lost.

The last ``KEPT`` events are kept. Ids carry this process's start (``<boot>-<n>``): an id of an
earlier process, or one older than what is kept, gets a ``resync`` event instead, telling the
page to read the state again. A client that stops reading is let go: its queue full, or a write
that does not finish within ``SEND_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("ivr.api")

KEPT = 1000
QUEUE = 200
SEND_TIMEOUT = 10.0
HEARTBEAT = 15.0
LOOK = 1.0
"""How often a quiet stream looks whether its client is still there."""
RETRY_MS = 2000

Event = dict[str, Any]


class _Client:
    def __init__(self, sees: Callable[[Event], bool]) -> None:
        self.sees = sees
        self.queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue(QUEUE)
        self.too_slow = False

    def put(self, event_id: str, event: Event) -> None:
        if self.too_slow or not self.sees(event):
            return
        if self.queue.full():
            self.too_slow = True
            self.queue.get_nowait()
        self.queue.put_nowait((event_id, event))


class EventLog:
    def __init__(self) -> None:
        self.boot = secrets.token_hex(4)
        self.count = 0
        self.kept: deque[tuple[int, Event]] = deque(maxlen=KEPT)
        self.clients: set[_Client] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    def publish(self, event: Event) -> None:
        self.count += 1
        self.kept.append((self.count, event))
        for client in list(self.clients):
            client.put(f"{self.boot}-{self.count}", event)

    def missed(self, last_id: str) -> list[tuple[str, Event]] | None:
        """Events after ``last_id``; None when that id is not this process's or too old.

        >>> events = EventLog(); events.boot = "b"
        >>> for n in range(3): events.publish({"n": n})
        >>> [event for _, event in events.missed("b-1")]
        [{'n': 1}, {'n': 2}]
        >>> events.missed("a-1") is None, events.missed("b-3")
        (True, [])
        """
        boot, _, number = last_id.rpartition("-")
        if boot != self.boot or not number.isdigit():
            return None
        after = int(number)
        if after > self.count or (self.kept and after < self.kept[0][0] - 1):
            return None
        return [(f"{self.boot}-{n}", event) for n, event in self.kept if n > after]

    async def serve(self, request: web.Request, sees: Callable[[Event], bool],
                    opened: Callable[[], None] = lambda: None) -> web.StreamResponse:
        """The stream for one client, until it goes, is too slow, or ``close`` is called;
        ``opened`` is called once it is listening."""
        client = _Client(sees)
        self.clients.add(client)
        opened()
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        last_id = request.headers.get("Last-Event-ID", "")
        try:
            await response.prepare(request)
            await self._send(response, f"retry: {RETRY_MS}\n: connected\n\n")
            missed = self.missed(last_id) if last_id else []
            if missed is None:
                await self._send(response, _frame("", {"type": "resync"}))
            for event_id, event in missed or []:
                if sees(event):
                    await self._send(response, _frame(event_id, event))
            quiet = 0.0
            while not client.too_slow:
                try:
                    async with asyncio.timeout(LOOK):
                        event_id, event = await client.queue.get()
                except TimeoutError:
                    # A client that closed is seen here, within a second, not at the next write.
                    if request.transport is None or request.transport.is_closing():
                        return response
                    quiet += LOOK
                    if quiet >= HEARTBEAT:
                        await self._send(response, ": ping\n\n")
                        quiet = 0.0
                    continue
                await self._send(response, _frame(event_id, event))
                quiet = 0.0
            log.warning("API: an event stream read too slowly and was let go (it resumes where it was)")
        except TimeoutError:
            log.warning("API: an event stream stopped reading for %g s and was let go", SEND_TIMEOUT)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(client)
            if task is not None:
                self.tasks.discard(task)
        return response

    async def close(self) -> None:
        """End every stream (shutting down): clients reconnect to whoever serves next."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _send(response: web.StreamResponse, text: str) -> None:
        async with asyncio.timeout(SEND_TIMEOUT):
            await response.write(text.encode())


def _frame(event_id: str, event: Event) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event)}\n\n"
