"""States as one table each: (state, trigger) -> next state. A trigger the table does not list
for the current state is illegal: it raises, naming the state."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

S = TypeVar("S", bound=Enum)


class IllegalEvent(Exception):
    """An event that cannot happen in the current state: a bug in an adapter or in the engine."""


def next_state(table: Mapping[tuple[S, str], S], what: str, state: S, trigger: str) -> S:
    """
    >>> class Door(Enum):
    ...     OPEN = "open"
    ...     SHUT = "shut"
    >>> next_state({(Door.OPEN, "close"): Door.SHUT}, "door 1", Door.OPEN, "close")
    <Door.SHUT: 'shut'>
    >>> next_state({(Door.OPEN, "close"): Door.SHUT}, "door 1", Door.SHUT, "close")
    Traceback (most recent call last):
    ivr.core.distribution.transitions.IllegalEvent: door 1: 'close' cannot happen when shut
    """
    found = table.get((state, trigger))
    if found is None:
        raise IllegalEvent(f"{what}: {trigger!r} cannot happen when {state.value}")
    return found
