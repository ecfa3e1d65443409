"""The agents' own phones as Asterisk sees them: registered or not, in a call or not.

Asterisk tells the app of every change of a watched endpoint (EndpointStateChange), so
distribution asks it nothing. The phones are subscribed to, and their state read once, on every
connect (events missed while the socket was down are not replayed) and after a reload brings
agents; until that succeeds it is tried again every few seconds. A list of every phone at each
match was a fifth of the app's CPU with 400 agents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ivr.ari.rest import AriError, AriRest
from ivr.core.distribution.engine import Distribution
from ivr.core.distribution.events import DistributionEvent, PhoneSeen

log = logging.getLogger("ivr.campaigns")

SUBSCRIBE_BATCH = 50
"""Phones subscribed to per request, within Asterisk's limit on a request line."""
RETRY_SECONDS = 2.0


class Phones:
    def __init__(self, rest: AriRest, app: str, engine: Distribution,
                 feed: Callable[[DistributionEvent], None]) -> None:
        self.rest = rest
        self.app = app
        self.engine = engine
        self.feed = feed
        self._retry: asyncio.TimerHandle | None = None
        self._again: asyncio.Task[None] | None = None

    def _own(self) -> list[str]:
        board = self.engine.board
        return [name for name, agent in self.engine.flow().agents.items()
                if not agent.trunk and name in board.agents]

    async def watch(self, hung_up: frozenset[str] = frozenset()) -> None:
        """``hung_up``: channels just hung up, which Asterisk may list a moment longer."""
        own = self._own()
        sources = [f"endpoint:PJSIP/agent-{name}" for name in own]
        try:
            for first in range(0, len(sources), SUBSCRIBE_BATCH):
                await self.rest.subscribe(self.app, sources[first:first + SUBSCRIBE_BATCH])
            endpoints = {e.get("resource"): e for e in await self.rest.endpoints("PJSIP")}
        except (AriError, OSError) as exc:
            log.warning("agents' phones: cannot ask Asterisk (%s); asking again in %g s", exc, RETRY_SECONDS)
            self._retry_later()
            return
        for agent in own:
            self.feed(seen(agent, endpoints.get(f"agent-{agent}"), hung_up))

    def _retry_later(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._watch_again)

    def _watch_again(self) -> None:
        self._again = asyncio.get_running_loop().create_task(self.watch())

    def on_endpoint(self, endpoint: dict[str, Any]) -> None:
        resource = str(endpoint.get("resource", ""))
        agent = resource.removeprefix("agent-")
        if agent != resource:
            self.feed(seen(agent, endpoint))


def seen(agent: str, endpoint: dict[str, Any] | None, hung_up: frozenset[str] = frozenset()) -> PhoneSeen:
    """
    >>> seen("ana", {"resource": "agent-ana", "state": "online", "channel_ids": ["c1"]})
    PhoneSeen(agent='ana', state='online', busy=True)
    >>> seen("ana", {"resource": "agent-ana", "state": "online", "channel_ids": ["c1"]}, frozenset({"c1"}))
    PhoneSeen(agent='ana', state='online', busy=False)
    >>> seen("ana", None)
    PhoneSeen(agent='ana', state=None, busy=False)
    """
    if endpoint is None:
        return PhoneSeen(agent, None, False)
    channels = set(endpoint.get("channel_ids") or ()) - hung_up
    return PhoneSeen(agent, str(endpoint.get("state", "")), bool(channels))
