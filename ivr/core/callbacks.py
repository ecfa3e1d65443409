"""In-queue callbacks: a caller leaves the line, keeps its place, and is called back by an agent.

A callback is a kind of waiting work: it waits in its campaign's line by the original call's
priority and arrival, is offered to an agent by the campaign's strategy, and once an agent has
taken it the customer is dialled. Its life, kept in the database:

    pending --attempt--> dialing --completed--> completed
       ^                    |
       +--- failed (retry) -+--- failed, no attempt left --> exhausted
    pending --> cancelled (supervisor) | expired (too old)

An attempt is counted only when the customer is dialled: an agent who refuses or misses the
offer costs the callback nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal


class CallbackState(Enum):
    PENDING = "pending"
    DIALING = "dialing"
    COMPLETED = "completed"
    EXHAUSTED = "exhausted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN = frozenset({CallbackState.PENDING, CallbackState.DIALING})


@dataclass(frozen=True)
class RetryPolicy:
    """When a callback may be dialled, and how often. The defaults are documented in
    docs/callbacks.md; a flow file's callback node may change each."""

    initial_delay: float = 0.0
    """Seconds after the request before the first attempt."""
    max_attempts: int = 3
    retry_delay: float = 300.0
    """Seconds between a failed attempt and the next (at least 300)."""
    expires_after: float = 86_400.0
    """Seconds after the request when a callback not yet completed expires."""


@dataclass(frozen=True)
class Limits:
    max_open_per_number: int = 1
    """Open (pending or dialing) callbacks per number and campaign."""
    max_per_number_per_day: int = 3
    """Callbacks requested per number (any campaign) in the last 24 hours."""


@dataclass(frozen=True)
class NewCallback:
    """What a caller registers: everything needed to call them back later, on any app node."""

    campaign: str
    number: str
    """E.164, checked (``ivr.core.phone_numbers``)."""
    caller_id: str
    """Presented to the customer when called back."""
    customer_id: str
    variables: tuple[tuple[str, str], ...]
    """The CRM's variables of the original call."""
    priority: int
    arrived_at: datetime
    """When the original call joined the campaign's line (UTC): the callback's place."""
    message: str = ""
    """The recording the caller left for the agent (an Asterisk recording name), or ""."""
    call_id: str = ""
    """The original call's channel id."""
    via: str = ""
    """The flow's callback node it was made by: its trunk dials the customer, its prompts play."""


@dataclass(frozen=True)
class Refusal:
    """Why a callback was not registered: ``open``, the number already waits for one in this
    campaign (Limits.max_open_per_number); ``rate``, it asked for too many today
    (Limits.max_per_number_per_day). The message names the number and the limit."""

    reason: Literal["open", "rate"]
    message: str


@dataclass(frozen=True)
class Callback:
    id: str
    request: NewCallback
    state: CallbackState
    created_at: datetime
    not_before: datetime
    expires_at: datetime
    attempts: int
    max_attempts: int
    retry_delay: float
    node: str = ""
    """The app node holding it for an offer to its agents (pending) or dialling it (dialing)."""
    reason: str = ""
    """Why it ended, or why the last attempt failed."""
    held_until: datetime | None = None
    """When the hold of ``node`` runs out, unless renewed."""

    def due(self, now: datetime) -> bool:
        return self.state is CallbackState.PENDING and self.not_before <= now < self.expires_at


def schedule(policy: RetryPolicy, now: datetime) -> tuple[datetime, datetime]:
    """(not_before, expires_at) of a callback requested now.

    >>> from datetime import UTC
    >>> now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    >>> [t.isoformat() for t in schedule(RetryPolicy(initial_delay=60), now)]
    ['2026-12-07T09:01:00+00:00', '2026-12-08T09:00:00+00:00']
    """
    return now + timedelta(seconds=policy.initial_delay), now + timedelta(seconds=policy.expires_after)
