"""The callers waiting in a campaign: in order of priority, then of arrival.

A CRM priority (a lower number is more urgent) lets a caller jump the line; callers of the same
priority keep their order of arrival.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class Waiting:
    call_id: str
    priority: int
    joined_at: float
    sequence: int
    skipped: set[str] = field(default_factory=set)
    """Agents who declined or missed this call: not offered it again at once."""

    @property
    def rank(self) -> tuple[int, float, int]:
        return (self.priority, self.joined_at, self.sequence)


class WaitingLine:
    def __init__(self) -> None:
        self._callers: dict[str, Waiting] = {}
        self._sequence = itertools.count()

    def join(self, call_id: str, priority: int, now: float) -> Waiting:
        if call_id in self._callers:
            return self._callers[call_id]
        waiting = Waiting(call_id, priority, now, next(self._sequence))
        self._callers[call_id] = waiting
        return waiting

    def rejoin(self, waiting: Waiting) -> None:
        """Back in the place it left (an agent answered, then was lost before the bridge).

        >>> line = WaitingLine()
        >>> first, _ = line.join("a", 5, 1.0), line.join("b", 5, 2.0)
        >>> left = line.leave("a")
        >>> line.rejoin(first)
        >>> [waiting.call_id for waiting in line.in_order()]
        ['a', 'b']
        """
        self._callers[waiting.call_id] = waiting

    def leave(self, call_id: str) -> Waiting | None:
        return self._callers.pop(call_id, None)

    def in_order(self) -> list[Waiting]:
        return sorted(self._callers.values(), key=lambda w: w.rank)

    def position(self, call_id: str) -> int | None:
        """1 for the next caller to be served."""
        for index, waiting in enumerate(self.in_order(), start=1):
            if waiting.call_id == call_id:
                return index
        return None

    def __len__(self) -> int:
        return len(self._callers)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._callers
