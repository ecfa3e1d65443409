"""Agents whose web page went away: a closed tab, a lost network or a sleeping laptop ends the
page's event stream. An agent who had a page open and has had none for ``after`` seconds is due
to be paused as ``disconnected``; one that reconnects in time is left alone. Agents who never
opened the page (a softphone and the API only) are never paused by it.

>>> now = [0.0]
>>> pages = PagePresence(lambda: now[0], after=30)
>>> pages.opened("ana"); pages.opened("ana"); pages.closed("ana")
>>> now[0] = 40; pages.due()
[]
>>> pages.closed("ana"); now[0] = 69; pages.due()
[]
>>> now[0] = 70; pages.due()
['ana']
>>> pages.paused("ana"); pages.due()
[]
"""

from __future__ import annotations

from collections.abc import Callable

DISCONNECTED = "disconnected"


class PagePresence:
    def __init__(self, clock: Callable[[], float], after: float) -> None:
        self.clock = clock
        self.after = after
        self.open_pages: dict[str, int] = {}
        self.gone_since: dict[str, float] = {}

    def opened(self, agent: str) -> None:
        self.open_pages[agent] = self.open_pages.get(agent, 0) + 1
        self.gone_since.pop(agent, None)

    def closed(self, agent: str) -> None:
        left = self.open_pages.get(agent, 0) - 1
        self.open_pages[agent] = max(0, left)
        if left <= 0:
            self.gone_since[agent] = self.clock()

    def due(self) -> list[str]:
        """Agents to pause now; each is named again until ``paused`` (one busy on a call waits)."""
        if self.after <= 0:
            return []
        limit = self.clock() - self.after
        return sorted(agent for agent, since in self.gone_since.items() if since <= limit)

    def paused(self, agent: str) -> None:
        """Paused, or no longer to be (logged out, gone from the flow)."""
        self.gone_since.pop(agent, None)

    def connected(self, agent: str) -> bool:
        return self.open_pages.get(agent, 0) > 0
