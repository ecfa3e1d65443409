"""What a call record keeps of the flow's part of a call."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CallFacts:
    nodes: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    customer_id: str = ""
    crm_outcome: str = ""
    crm_reason: str = ""
    crm_seconds: float | None = None
    destination: str = ""
    agent: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
