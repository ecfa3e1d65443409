"""A caller's place in a campaign's line, kept on its channel (IVR_WAITING) while it waits, so
that a restarted app, or a caller coming back from asking for a callback, keeps it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PRIORITY = 5
"""Callers without a CRM ``priority`` (1 most urgent .. 9)."""


@dataclass(frozen=True)
class Place:
    campaign: str
    priority: int
    since: float
    """Unix time the caller joined the line."""

    def __str__(self) -> str:
        return f"{self.campaign}:{self.priority}:{self.since:.0f}"

    @classmethod
    def parse(cls, text: str) -> Place | None:
        """
        >>> Place.parse("sales:5:1795295425")
        Place(campaign='sales', priority=5, since=1795295425.0)
        >>> Place.parse("sales:x:1") is None
        True
        """
        parts = text.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        return cls(parts[0], int(parts[1]), float(parts[2]))


def crm_priority(variables: Mapping[str, str]) -> int:
    """The CRM's ``priority`` variable, when it is one (1 most urgent .. 9).

    >>> crm_priority({"priority": "2"}), crm_priority({"priority": "0"}), crm_priority({})
    (2, 5, 5)
    """
    given = variables.get("priority", "")
    return int(given) if given.isdigit() and 1 <= int(given) <= 9 else DEFAULT_PRIORITY
