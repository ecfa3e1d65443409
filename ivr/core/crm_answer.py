"""What an identification node asks a CRM, and what the CRM answered, as the core sees it; their
HTTP form is the crm package's (``protocol.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Interaction(Enum):
    NONE = "none"
    TRUE_FALSE = "true-false"
    DESTINATION = "destination"


Variables = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Identified:
    variables: Variables = ()


@dataclass(frozen=True)
class NotIdentified:
    variables: Variables = ()


@dataclass(frozen=True)
class Routed:
    type_code: int
    destination_id: int
    variables: Variables = ()


@dataclass(frozen=True)
class Unavailable:
    reason: str


Answer = Identified | NotIdentified | Routed | Unavailable
