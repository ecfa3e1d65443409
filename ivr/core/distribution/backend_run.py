"""Backend-run campaigns: each waiting call is handed to the customer's own backend, which decides
whom to connect it to (one of our agents, a SIP URI, a number through a trunk) and says so through
the call's control URL (``ConnectTarget``). The engine rings the target and bridges like any
answered offer, and reports every step to the backend's webhook (``TellBackend``): joined,
ringing, failed (with the cause), answered, bridged, hung up (by whom), left. A target that does
not answer leaves the call waiting for the backend's next command. A backend that cannot be
reached when the call arrives leaves the call to the campaign's own strategy.
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.core.distribution.commands import HandToBackend, TellBackend
from ivr.core.distribution.events import BackendAccepted, ConnectTarget
from ivr.core.distribution.offering import Offering
from ivr.core.distribution.offers import Offer, OfferState
from ivr.core.distribution.work import WorkItem, WorkState
from ivr.core.events import CampaignNote


class BackendRun(Offering):
    def _hand_over(self, item: WorkItem) -> None:
        item.backend = True
        node = item.node
        self._out.append(HandToBackend(item.id, item.campaign, node.backend_url, node.backend_deadline,
                                       tuple(item.call_data().items())))
        call = item.call
        self._event(item, "joined", caller=call.caller, caller_name=call.caller_name, did=call.did,
                    customer_id=call.customer_id, variables=dict(call.crm_variables))

    def _backend_accepted(self, event: BackendAccepted) -> None:
        item = self.items.get(event.call_id)
        if item is None or not item.backend:
            return
        if not event.error:
            self._tell(item, CampaignNote("handed to the backend"))
            return
        why = f"backend unreachable ({event.error}); the campaign's strategy serves the call"
        self._log(f"call {item.id}: {why}", logging.WARNING)
        self._tell(item, CampaignNote(why))
        item.backend = False
        self._rematch = True

    def _connect(self, event: ConnectTarget) -> None:
        item = self.items.get(event.call_id)
        if item is None or not item.backend or item.state is not WorkState.WAITING:
            self._log(f"call {event.call_id}: connect {event.command_id} ignored: the call is not waiting",
                      logging.WARNING)
            return
        target = event.target
        self._tell(item, CampaignNote(f"backend: connect {target.kind} {target.value} ({event.command_id})"))
        self._ring_claimed(item, target.value, target.endpoint)
        self._event(item, "ringing", command=event.command_id, target=target.kind, to=target.value)

    def _unanswered(self, item: WorkItem, offer: Offer, reason: str) -> None:
        if not item.backend:
            super()._unanswered(item, offer, reason)
            return
        self._drop_unanswered(item, offer)
        self._tell(item, CampaignNote(f"backend: {offer.agent} did not answer ({reason})"))
        self._event(item, "failed", to=offer.agent, cause=reason)

    def _answered(self, offer_id: str) -> None:
        offer = self.offers.get(offer_id)
        was = offer.state if offer is not None else None
        super()._answered(offer_id)
        item = self.items.get(offer.work_id) if offer is not None else None
        if offer is not None and item is not None and item.backend and was is OfferState.RINGING \
                and item.connected == offer_id:
            self._event(item, "answered", to=offer.agent, waited=self._since(item.waiting.joined_at))

    def _bridged(self, offer_id: str, bridge_id: str) -> None:
        super()._bridged(offer_id, bridge_id)
        offer = self.offers.get(offer_id)
        item = self.items.get(offer.work_id) if offer is not None else None
        if offer is not None and item is not None and item.state is WorkState.TALKING:
            item.bridged_at = self.clock()
            if item.backend:
                self._event(item, "bridged", to=offer.agent)

    def _back_in_line(self, item: WorkItem, offer: Offer) -> None:
        super()._back_in_line(item, offer)
        if item.backend:
            self._event(item, "failed", to=offer.agent, cause="lost before the bridge")

    def _ended(self, offer: Offer, reason: str, trigger: str) -> None:
        was = offer.state
        super()._ended(offer, reason, trigger)
        item = self.items.get(offer.work_id)
        if was is OfferState.BRIDGED and item is not None and item.backend:
            self._event(item, "hung_up", by="target", to=offer.agent, talked=self._talked(item))

    def _caller_left(self, item: WorkItem, why: str) -> None:
        if not item.backend:
            return
        if item.connected is not None:
            self._event(item, "hung_up", by="caller", to=self.offers[item.connected].agent,
                        talked=self._talked(item))
        else:
            self._event(item, "left", why=why, waited=self._since(item.waiting.joined_at))

    def _talked(self, item: WorkItem) -> float:
        return self._since(item.bridged_at) if item.bridged_at is not None else 0.0

    def _since(self, moment: float) -> float:
        return round(self.clock() - moment, 3)

    def _event(self, item: WorkItem, kind: str, **data: Any) -> None:
        if item.node.events_url:
            self._out.append(TellBackend(item.id, item.campaign, item.node.events_url, kind,
                                         tuple(data.items())))
