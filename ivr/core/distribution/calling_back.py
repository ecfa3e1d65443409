"""Callbacks as work of the distribution engine: a callback queued in its campaign's line like a
caller, held (or dropped when another node holds it), its agent briefed, the attempt started by
the store, the customer dialled on a leg of its own per attempt, and the customer's leg ending.
"""

from __future__ import annotations

import logging

from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import DialCustomer, FinishAttempt, StartAttempt
from ivr.core.distribution.engine_state import WAITING_STATES
from ivr.core.distribution.events import CallbackQueued
from ivr.core.distribution.offering import Offering
from ivr.core.distribution.offers import OfferState
from ivr.core.distribution.transitions import IllegalEvent
from ivr.core.distribution.work import CallbackWork, WorkItem, WorkKind, WorkState
from ivr.core.nodes import Campaign
from ivr.core.waiting import WaitingLine


def callback_item(callback_id: str) -> str:
    """The work item (and the prefix of its legs' channel ids) of a callback."""
    return f"cb-{callback_id}"


class CallingBack(Offering):
    def _queue_callback(self, event: CallbackQueued) -> None:
        callback, request = event.callback, event.callback.request
        item_id = callback_item(callback.id)
        node = self.flow().nodes.get(Destination("campaign", request.campaign))
        if not isinstance(node, Campaign) or not node.runs_in_app or item_id in self.items:
            return
        waited = max(0.0, (self.wall() - request.arrived_at).total_seconds())
        line = self.lines.setdefault(request.campaign, WaitingLine())
        waiting = line.join(item_id, request.priority, self.clock() - waited)
        call = WaitingCall(request.number, "", request.customer_id, request.variables)
        work = CallbackWork(callback.id, request.caller_id, request.message, event.endpoint, event.briefing,
                            event.dial_seconds)
        self.items[item_id] = WorkItem(item_id, WorkKind.CALLBACK, request.campaign, node, waiting, call,
                                       callback=work)
        self._log(f"callback {callback.id}: waiting in campaign {request.campaign} (priority "
                  f"{request.priority}, position {line.position(item_id)})")
        self._rematch = True
        self._keep_ticking()

    def _held(self, callback_id: str, held: bool) -> None:
        item = self.items.get(callback_item(callback_id))
        if item is None:
            return
        self._unkeep(item)
        if held:
            item.held = True
            self._asked(item, "hold")
        else:
            self._log(f"callback {callback_id}: held by another app node")
            self._drop(item)

    def _dropped(self, callback_id: str) -> None:
        item = self.items.get(callback_item(callback_id))
        if item is not None and item.state in WAITING_STATES:
            self._drop(item)

    def _drop(self, item: WorkItem) -> None:
        item.move("leave")
        for offer in list(item.offers.values()):
            self._withdraw(offer)
        self._forget_item(item)
        self._rematch = True

    def _briefed(self, offer_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.state is not OfferState.ANSWERED:
            return
        item = self.items[offer.work_id]
        if item.callback is None or item.attempt:
            raise IllegalEvent(f"offer {offer_id}: briefed, but {item.kind.value} {item.id} is not a "
                               f"callback waiting for its attempt")
        self._out.append(StartAttempt(item.callback.callback_id))

    def _attempt_started(self, callback_id: str, attempt: int | None) -> None:
        item = self.items.get(callback_item(callback_id))
        if item is None or item.callback is None or item.state is not WorkState.CONNECTING \
                or item.connected is None:
            if attempt is not None:
                self._out.append(FinishAttempt(callback_id, attempt, False, "the agent left before the dial"))
            return
        offer = self.offers[item.connected]
        if attempt is None:
            self._log(f"callback {callback_id}: the store refused the attempt (not held by this node, "
                      f"or no longer pending); agent {offer.agent} is let go", logging.ERROR)
            self._end_talk(item, offer, hang_up_agent=True)
            item.move("attempt failed")
            self._forget_item(item)
            return
        item.attempt, item.customer_leg = attempt, f"{item.id}-try-{attempt}"
        self.legs[item.customer_leg] = item.id
        work = item.callback
        self._log(f"callback {callback_id}: attempt {attempt}, dialling the customer for agent {offer.agent}")
        self._out.append(DialCustomer(item.customer_leg, callback_id, attempt, work.endpoint, work.caller_id,
                                      work.dial_seconds, offer.id, item.call.caller))

    def _customer_gone(self, channel_id: str, reason: str) -> None:
        item = self.items.get(self.legs.pop(channel_id, ""))
        if item is None or item.connected is None:
            return
        offer = self.offers[item.connected]
        if item.state is WorkState.TALKING:
            self._log(f"callback {item.id}: the customer hung up")
            self._end_talk(item, offer, hang_up_agent=True)
            item.move("customer hung up")
            self._forget_item(item)
            return
        self._end_talk(item, offer, hang_up_agent=True)
        self._attempt_failed(item, reason, offer.agent)
