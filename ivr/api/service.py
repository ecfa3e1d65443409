"""What the API needs of the distribution, whatever carries it out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ivr.core.distribution.commands import LineEvent
from ivr.core.waiting import Waiting


class Lines(Protocol):
    def waiting_lines(self) -> Mapping[str, list[Waiting]]:
        """Each campaign's line, next to be served first."""
        ...

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """``listener`` is told of every offer to an agent (the screen pop)."""
        ...

    def count(self, counter: Callable[[LineEvent], None]) -> None:
        """``counter`` is told of every caller entering, answered in, or leaving a line."""
        ...
