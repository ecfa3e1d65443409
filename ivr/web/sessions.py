"""Signed-in browsers: a session per sign-in, named by a random cookie, with the token its page
must send with every change (CSRF), and the limit on wrong secrets per address.

Sessions live in the process: a restart signs everyone out (their page sends them to sign in).
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "ivr_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    who: str
    """An agent's id, or ``*`` for the supervisor."""
    csrf: str
    expires: float

    def csrf_matches(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf, given)


class Sessions:
    def __init__(self, clock: Callable[[], float], lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self._by_id: dict[str, Session] = {}

    def open(self, who: str) -> tuple[str, Session]:
        """A new session: its cookie value, and itself."""
        self._forget_expired()
        session_id = secrets.token_urlsafe(32)
        session = Session(who, secrets.token_urlsafe(32), self.clock() + self.lifetime)
        self._by_id[session_id] = session
        return session_id, session

    def of(self, session_id: str) -> Session | None:
        session = self._by_id.get(session_id)
        if session is not None and session.expires <= self.clock():
            del self._by_id[session_id]
            return None
        return session

    def close(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def close_all(self, who: str) -> None:
        """Everyone signed in as ``who`` (an agent removed from the flow)."""
        for session_id in [s for s, session in self._by_id.items() if session.who == who]:
            del self._by_id[session_id]

    def _forget_expired(self) -> None:
        now = self.clock()
        for session_id in [s for s, session in self._by_id.items() if session.expires <= now]:
            del self._by_id[session_id]


class WrongSecrets:
    """At most ``limit`` wrong tokens or passwords per address within ``window`` seconds; after
    that the address waits (``retry_after``) whatever it sends, right or wrong.

    >>> now = [0.0]
    >>> wrong = WrongSecrets(lambda: now[0], limit=2, window=60)
    >>> wrong.failed("10.0.0.1"), wrong.failed("10.0.0.1"), wrong.retry_after("10.0.0.1")
    (None, None, 60)
    >>> now[0] = 30.0
    >>> wrong.retry_after("10.0.0.1"), wrong.retry_after("10.0.0.2")
    (30, None)
    >>> now[0] = 60.0
    >>> wrong.retry_after("10.0.0.1") is None
    True
    """

    ADDRESSES_KEPT = 10_000

    def __init__(self, clock: Callable[[], float], limit: int = 10, window: float = 60.0) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait before trying again, or None."""
        failures = self._recent(address)
        if len(failures) < self.limit:
            return None
        return max(1, round(failures[0] + self.window - self.clock()))

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= self.ADDRESSES_KEPT:
            # Many addresses at once: keep the newest failures, not an ever-growing table.
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque(maxlen=self.limit)).append(self.clock())

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and failures[0] + self.window <= self.clock():
            failures.popleft()
        return failures
