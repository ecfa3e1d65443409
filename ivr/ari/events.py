"""The ARI event websocket: connect, read, and come back after every drop.

Facts of Asterisk this is built around:
- it does not replay events missed while the socket was down, so every (re)connect calls
  ``on_connected`` for the owner to reconcile its calls;
- it drops a client that is slow to read (``websocket_write_timeout``), so the reader only
  parses and hands events over; it never awaits a handler;
- a half-open socket is noticed by pings within ``2 * ping_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ivr.ari.rest import AriAuthError
from ivr.ari.tls import AriTls

log = logging.getLogger("ivr.ari")

EventHandler = Callable[[dict[str, Any]], None]
ConnectedHandler = Callable[[], Coroutine[Any, Any, None]]

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 8.0
STABLE_AFTER = 10.0
REPLACED_WAIT = 30.0
# An upgrade Asterisk leaves unanswered (seen while its ARI session lock was deadlocked, see
# dialplan/asterisk/modules.conf) is abandoned early; a fresh attempt is the way out.
HANDSHAKE_TIMEOUT = 3.0


class AriUnreachable(Exception):
    pass


class EventStream:
    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 on_event: EventHandler, on_connected: ConnectedHandler,
                 subscribe_all: bool = False, ping_interval: float = 4.0,
                 startup_timeout: float = 30.0, tls: AriTls | None = None) -> None:
        query = urlencode({"app": app, "subscribeAll": str(subscribe_all).lower()})
        self.url = f"{base_url.replace('http', 'ws', 1)}/ari/events?{query}"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._tls = tls
        self._on_event = on_event
        self._on_connected = on_connected
        self._ping_interval = ping_interval
        self._startup_timeout = startup_timeout
        self.connected = asyncio.Event()
        self.connections = 0
        self._replaced = False
        self._closing = False
        self._socket: ClientConnection | None = None

    async def run(self) -> None:
        """Read events until cancelled. Raises only when waiting cannot help (bad password, or
        Asterisk never reachable within the start-up timeout)."""
        started = time.monotonic()
        backoff = BACKOFF_FIRST
        while not self._closing:
            opened = time.monotonic()
            reason = await self._session()
            if self._closing:
                return
            if self.connections == 0 and time.monotonic() - started > self._startup_timeout:
                raise AriUnreachable(
                    f"ARI events at {self.url.split('?')[0]} unreachable for "
                    f"{self._startup_timeout:g} s (last error: {reason})"
                )
            backoff = BACKOFF_FIRST if time.monotonic() - opened > STABLE_AFTER else backoff
            if self._replaced:
                self._replaced = False
                backoff = REPLACED_WAIT
            log.warning("ARI events: %s; reconnecting in %.2g s", reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _session(self) -> str:
        """One connection, from opening to its end; returns why it ended."""
        try:
            async with connect(self.url, additional_headers=self._headers,
                               ping_interval=self._ping_interval,
                               ping_timeout=self._ping_interval, open_timeout=HANDSHAKE_TIMEOUT,
                               max_size=2**24, ssl=self._tls.context if self._tls else None) as socket:
                self._socket = socket
                self.connections += 1
                self.connected.set()
                log.info("ARI events: connected to %s (connection %d)",
                         self.url.split("?")[0], self.connections)
                reconcile = asyncio.create_task(self._on_connected(), name="ari-reconcile")
                try:
                    async for message in socket:
                        self._dispatch(message)
                        if self._replaced:
                            return "another client registered the same app (ApplicationReplaced)"
                finally:
                    self._socket = None
                    self.connected.clear()
                    if not reconcile.done():
                        reconcile.cancel()
                return "connection closed by Asterisk"
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise AriAuthError(401, "GET", "/ari/events",
                                   "wrong ARI user or password") from exc
            return f"handshake refused: HTTP {exc.response.status_code}"
        except ConnectionClosed as exc:
            self.connected.clear()
            return f"connection lost ({exc})"
        except ssl.SSLCertVerificationError as exc:
            if self._tls is None:
                raise
            raise self._tls.refused(exc, self.url.split("/ari/")[0]) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"cannot connect ({type(exc).__name__}: {exc})"

    async def close(self) -> None:
        """Close the socket and wait for Asterisk to acknowledge it, so that the app is
        unregistered before this process ends (a successor connecting while Asterisk still
        holds the old registration was seen to hang in its handshake)."""
        self._closing = True
        socket = self._socket
        if socket is not None:
            await socket.close()

    def _dispatch(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            log.error("ARI events: not JSON, ignored: %.200r", message)
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "ApplicationReplaced":
            # A second client with our app name silently takes every new call. Fighting back
            # at once would bounce calls between the two, so wait long before retaking it.
            log.error("ARI events: app %r was taken over by another client", event.get("application"))
            self._replaced = True
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("ARI events: handler failed on %s", event.get("type"))
