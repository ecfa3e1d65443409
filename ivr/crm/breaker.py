"""A circuit breaker: after N failures in a row the CRM is skipped for a cool-down, so callers
are routed at once instead of each waiting out the full deadline of a CRM that is down."""

from __future__ import annotations

from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.open_until: float | None = None

    def allows(self) -> bool:
        """Closed: yes. Open: no, until the cool-down ends; then one trial request goes through."""
        if self.open_until is None:
            return True
        if self.clock() < self.open_until:
            return False
        self.open_until = None
        self.failures = self.threshold - 1
        return True

    @property
    def is_open(self) -> bool:
        """Skipping the CRM now (a metric; ``allows`` is what a call asks)."""
        return self.open_until is not None and self.clock() < self.open_until

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = None

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = self.clock() + self.cooldown
