"""Where a call can be sent: a typed reference ``kind:name`` to a node of the flow, or ``hangup``
alone for a plain hang-up. The kinds, and how a flow file writes a destination, are in ``nodes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Destination:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


HANG_UP = Destination("hangup", "")
