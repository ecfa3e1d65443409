"""What the nodes of a flow share while they hold a call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ivr.core.commands import Command
from ivr.core.destinations import Destination
from ivr.core.events import Event
from ivr.core.facts import CallFacts
from ivr.core.flow import Flow
from ivr.core.place import Place
from ivr.core.player import Player


@dataclass(frozen=True)
class Goto:
    """Leave this node for another; the step has already stopped its prompts and timers."""

    destination: Destination


Out = Command | Goto


@dataclass
class CallContext:
    call_id: str
    flow: Flow
    player: Player
    facts: CallFacts
    caller: str = ""
    caller_name: str = ""
    did: str = ""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    place: Place | None = None
    """The caller's place in a campaign's line, kept while it asks for a callback."""
    late_terminator: tuple[str, datetime] | None = None
    """An entry ended at its full length: its terminator key, and until when one pressed
    anyway still belongs to it (callers type ``1234#`` out of habit) and not to the next node."""


class Step(Protocol):
    def start(self) -> list[Out]: ...

    def handle(self, event: Event) -> list[Out]: ...

    def resume(self) -> list[Out]:
        """The event connection came back: events may have been lost, pick the node up again."""
        ...

    def hung_up(self) -> None:
        """The caller is gone while this node held the call."""
        ...
