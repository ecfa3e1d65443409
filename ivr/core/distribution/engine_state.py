"""The distribution engine's state, and the small helpers every part of the engine shares.

``EngineState`` holds every waiting item, every offer and the agents' board, with the clock, the
wall clock and the randomness of ``weighted-random`` injected. Commands collect in ``_out`` while
one event is applied. The helpers here serve more than one part; ending a callback's failed
attempt is among them, since an offer's life ends one too (the agent lost before the customer was
connected). The engine is built up on it: ``matching.Matching`` (waiting work matched with
agents), ``offering.Offering`` (an offer's life), ``calling_back.CallingBack`` (callbacks) and
``engine.Distribution`` (events in, commands out).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ivr.core.agents import AgentBoard
from ivr.core.distribution.commands import (
    DistributionCommand,
    FinishAttempt,
    HangUpCustomer,
    LineEvent,
    LineKind,
    Log,
    TellCaller,
    Wake,
)
from ivr.core.distribution.offers import Offer
from ivr.core.distribution.work import WorkItem, WorkKind, WorkState
from ivr.core.events import Event as CallEvent
from ivr.core.flow import Flow
from ivr.core.waiting import WaitingLine

TICK = "tick"
TICK_SECONDS = 2.0
"""Phones come online and other nodes release agents without telling: look again this often
while anything waits."""
WAITING_STATES = frozenset({WorkState.ASKING, WorkState.WAITING, WorkState.OFFERING})


class EngineState:
    def __init__(self, board: AgentBoard, flow: Callable[[], Flow], clock: Callable[[], float],
                 wall: Callable[[], datetime], rng: random.Random | None = None,
                 strict: bool = False) -> None:
        self.board = board
        self.flow = flow
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.strict = strict
        self.items: dict[str, WorkItem] = {}
        self.lines: dict[str, WaitingLine] = {}
        self.offers: dict[str, Offer] = {}
        self.holding: dict[str, str] = {}
        """Agent -> the offer this node holds the agent's claim for."""
        self.kept_for: dict[str, str] = {}
        """Agent -> the callback it is kept for while this node asks the store to hold it: a
        later call must not take the agent meanwhile."""
        self.held_elsewhere: set[str] = set()
        """Agents whose claim another node refused since the last tick."""
        self.spare_calls: dict[tuple[str, date], int] = {}
        """(Spare, day) -> overflow calls answered: this node's, and all nodes' as last read from
        the store (``SpareCounts``)."""
        self.waits: dict[str, deque[float]] = {}
        """Per campaign, how long the last items served waited (for the estimate)."""
        self.wrap_ups: dict[str, str] = {}
        """Agent -> the key of the wrap-up that ends it."""
        self.legs: dict[str, str] = {}
        """A callback's customer leg -> its work item."""
        self.stopping = False
        self._ids = itertools.count(1)
        self._ticking = False
        self._rematch = False
        self._out: list[DistributionCommand] = []

    # -- shared helpers

    def _keep_ticking(self) -> None:
        if not self._ticking:
            self._ticking = True
            self._out.append(Wake(TICK, TICK_SECONDS))

    def _asked(self, item: WorkItem, what: str) -> None:
        item.asking.discard(what)
        if not item.asking and item.state is WorkState.ASKING:
            item.move("answered")
            self._rematch = True

    def _forget_if_settled(self, offer: Offer) -> None:
        if offer.settled:
            self.offers.pop(offer.id, None)

    def _forget_item(self, item: WorkItem) -> None:
        del self.items[item.id]
        self.lines[item.campaign].leave(item.id)
        self._unkeep(item)

    def _unkeep(self, item: WorkItem) -> None:
        for agent in [agent for agent, owner in self.kept_for.items() if owner == item.id]:
            del self.kept_for[agent]

    # -- a callback's attempt ended (from an offer's life as from the callbacks')

    def _attempt_failed(self, item: WorkItem, reason: str, agent: str) -> None:
        """No customer to talk to: the store retries it later (or it is exhausted); the agent
        is free now."""
        assert item.callback is not None
        self._log(f"callback {item.callback.callback_id}: attempt {item.attempt} failed: {reason}")
        self._hang_up_customer(item)
        self._out.append(FinishAttempt(item.callback.callback_id, item.attempt, False, reason))
        self._attempt_told(item, agent, reason, connected=False)
        item.move("attempt failed")
        self._forget_item(item)

    def _hang_up_customer(self, item: WorkItem) -> None:
        if item.customer_leg is not None and self.legs.pop(item.customer_leg, None) is not None:
            self._out.append(HangUpCustomer(item.customer_leg))

    # -- output

    def _tell(self, item: WorkItem, event: CallEvent) -> None:
        if item.kind is WorkKind.CALL:
            self._out.append(TellCaller(item.id, event))

    def _line(self, item: WorkItem, kind: LineKind, waited: float, **told: Any) -> None:
        """What the wallboard and the reports are told of a live caller."""
        if item.kind is WorkKind.CALL:
            self._out.append(LineEvent(item.campaign, item.id, kind, waited, **told))

    def _attempt_told(self, item: WorkItem, agent: str, why: str, connected: bool) -> None:
        """What the reports are told of a callback's attempt that ended."""
        assert item.callback is not None
        self._out.append(LineEvent(item.campaign, item.callback.callback_id, "callback", 0.0, agent, why,
                                   attempt=item.attempt, connected=connected))

    def _log(self, message: str, level: int = logging.INFO) -> None:
        self._out.append(Log(message, level))
