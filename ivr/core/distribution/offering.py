"""An offer's life: its claim granted or refused, the agents of a round rung together, the
answer, the bridge, the end of the talk (wrap-up, then ready) and the claims released once their
agents are idle. A work item whose agent is lost before the bridge waits again in its place.
"""

from __future__ import annotations

import logging
from collections import deque

from ivr.core.agents import State
from ivr.core.distribution.commands import (
    BridgeCall,
    BriefAgent,
    CountSpareCall,
    EndBridge,
    FinishAttempt,
    HangUpAgent,
    NotifyAgent,
    ReleaseAgent,
    RingAgent,
    Wake,
)
from ivr.core.distribution.matching import Matching
from ivr.core.distribution.offers import Offer, OfferState
from ivr.core.distribution.transitions import IllegalEvent
from ivr.core.distribution.work import WorkItem, WorkState
from ivr.core.events import AgentAnswered, AgentConnected, AgentHungUp, CampaignNote

WAITS_KEPT = 20
HOLDING = frozenset({State.RINGING, State.ON_CALL, State.WRAP_UP})
"""The states in which this node holds its claim on the agent."""



def bridge_of(offer_id: str) -> str:
    """The bridge of an answered offer: one per offer, so that a bridge left behind by an
    earlier attempt (its end still on its way) never refuses the next ("already exists")."""
    return f"{offer_id}-bridge"

class Offering(Matching):
    def _offer(self, offer_id: str) -> Offer:
        offer = self.offers.get(offer_id)
        if offer is None:
            raise IllegalEvent(f"no offer {offer_id}")
        return offer

    def _granted(self, offer: Offer) -> None:
        offer.claim_open = False
        if offer.move("granted") is OfferState.WITHDRAWN:
            self._out.append(ReleaseAgent(offer.agent, offer.id))
            self._forget_if_settled(offer)
            return
        item = self.items[offer.work_id]
        if offer.agent not in self.flow().agents or not self.board.available(offer.agent):
            # Paused, logged out or busy while the claim was asked.
            offer.move("withdraw")
            del item.offers[offer.id]
            self._out.append(ReleaseAgent(offer.agent, offer.id))
            self._forget_if_settled(offer)
        else:
            self.holding[offer.agent] = offer.id
            self.board.offered(offer.agent)
            own = offer.agent == item.preferred(self.flow().agent_names)
            self._out.append(NotifyAgent(offer.agent, (("type", "offer"), ("agent", offer.agent),
                                                       *item.call_data().items(),
                                                       ("caller_name", item.call.caller_name),
                                                       ("own_customer", own))))
            self._log(f"{item.kind.value} {item.id}: offered to agent {offer.agent} ({item.node.strategy})")
        self._round_moves(item)

    def _refused(self, offer: Offer) -> None:
        offer.claim_open = False
        if offer.move("refused") is OfferState.REFUSED:
            self._log(f"agent {offer.agent}: held by another app node; not offered now")
            self.held_elsewhere.add(offer.agent)
            item = self.items[offer.work_id]
            del item.offers[offer.id]
            self._round_moves(item)
        self._forget_if_settled(offer)

    def _round_moves(self, item: WorkItem) -> None:
        """Once no claim of the item's round is open, its claimed offers ring together (so that
        with ring-all the first answer cannot cut the round short); with none left, it waits."""
        pending = list(item.offers.values())
        if item.state is not WorkState.OFFERING or any(o.state is OfferState.PROPOSED for o in pending):
            return
        if not pending:
            item.move("no offer left")
            self._rematch = True
        for offer in pending:
            if offer.state is OfferState.CLAIMED:
                self._ring(item, offer)

    def _ring_claimed(self, item: WorkItem, agent: str, endpoint: str = "") -> Offer:
        """Rings an offer whose claim was decided elsewhere (a staff member's reply, a backend's
        command). The agent's state follows it only when they are ready for pushed calls."""
        ready = agent in self.board.agents and self.board.available(agent)
        offer = Offer(f"{item.id}-agent-{next(self._ids)}", item.id, agent, endpoint=endpoint, on_board=ready)
        offer.claim_open = False
        offer.move("granted")
        self.offers[offer.id] = item.offers[offer.id] = offer
        if offer.on_board:
            self.board.offered(offer.agent)
        item.move("offer")
        self._ring(item, offer)
        return offer

    def _drop_unanswered(self, item: WorkItem, offer: Offer) -> None:
        """An offer rung by ``_ring_claimed`` ended unanswered: the item waits again, offered to nobody."""
        if offer.on_board:
            self.board.not_answered(offer.agent)
        del item.offers[offer.id]
        item.move("no offer left")

    def _ring(self, item: WorkItem, offer: Offer) -> None:
        offer.move("ring")
        offer.leg = True
        offer.rung_at = self.clock()
        node, variables = item.node, item.call.agent_variables(item.campaign)
        shown = f"{item.campaign} <{item.call.caller}>"
        if item.callback is not None:
            shown = f"callback {shown}"
            variables += (("IVR_CALLBACK", item.callback.callback_id),)
        endpoint = offer.endpoint or self.flow().agent_endpoint(offer.agent)
        self._out.append(RingAgent(offer.id, offer.agent, endpoint, item.id,
                                   shown, max(1, round(node.ring_timeout)), variables,
                                   "" if item.callback is not None else item.id))

    def _answered(self, offer_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is None:
            self._log(f"agent leg {offer_id} of an earlier process: hanging up", logging.WARNING)
            self._out.append(HangUpAgent(offer_id))
            return
        if offer.move("answered") is OfferState.WITHDRAWN:
            self._out.append(HangUpAgent(offer_id))
            return
        item = self.items[offer.work_id]
        item.move("answered")
        del item.offers[offer.id]
        item.connected = offer.id
        self.lines[item.campaign].leave(item.id)
        self._count_spare(item, offer.agent)
        waited = item.held_for = self.clock() - item.waiting.joined_at
        self.waits.setdefault(item.campaign, deque(maxlen=WAITS_KEPT)).append(waited)
        self._line(item, "answered", waited, agent=offer.agent, rang=self.clock() - offer.rung_at,
                   first_position=item.first_position, leg=offer.id)
        if offer.on_board:
            self.board.answered(offer.agent)
        for other in list(item.offers.values()):
            self._withdraw(other)
        if item.callback is not None:
            self._out.append(BriefAgent(offer.id, item.callback.briefing))
        self._tell(item, AgentAnswered(offer.agent))

    def _count_spare(self, item: WorkItem, agent: str) -> None:
        if agent in item.node.overflow_agents and agent not in item.node.agents:
            day = self._spare_day(item.node, self.wall())
            self.spare_calls[agent, day] = self.spare_calls.get((agent, day), 0) + 1
            self._out.append(CountSpareCall(agent, day))
            self._tell(item, CampaignNote(f"overflow: answered by spare {agent}"))

    def _ready(self, call_id: str) -> None:
        """The caller is ready to be bridged; when the agent was lost meanwhile (it waits again,
        told by ``AgentHungUp``), nothing is to be done."""
        item = self.items.get(self.legs.get(call_id, call_id))
        if item is not None and item.state is WorkState.CONNECTING and item.connected is not None:
            self._out.append(BridgeCall(bridge_of(item.connected), call_id, item.connected))

    def _bridged(self, offer_id: str, bridge_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.state is not OfferState.ANSWERED:
            # The agent or the caller went while the bridge was made.
            self._out.append(EndBridge(bridge_id))
            return
        item = self.items[offer.work_id]
        offer.move("bridged")
        item.move("bridged")
        item.bridged_at = self.clock()
        self._log(f"{item.kind.value} {item.id}: bridged with agent {offer.agent}")
        self._tell(item, AgentConnected(offer.agent))
        if item.callback is not None:
            why = f"accepted; talked with agent {offer.agent}"
            self._out.append(FinishAttempt(item.callback.callback_id, item.attempt, True, why))
            self._attempt_told(item, offer.agent, why, connected=True)

    def _bridge_failed(self, offer_id: str, bridge_id: str, reason: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.state is not OfferState.ANSWERED:
            self._out.append(EndBridge(bridge_id))
            return
        item = self.items[offer.work_id]
        self._log(f"{item.kind.value} {item.id}: could not bridge agent {offer.agent}: {reason}",
                  logging.WARNING)
        offer.move("bridge failed")
        self._end_talk(item, offer, hang_up_agent=True)
        if item.attempt:
            self._attempt_failed(item, f"could not bridge: {reason}", offer.agent)
        else:
            self._back_in_line(item, offer)

    def _ended(self, offer: Offer, reason: str, trigger: str) -> None:
        offer.leg = False
        was = offer.state
        offer.move(trigger)
        item = self.items.get(offer.work_id)
        if was is OfferState.RINGING and item is not None:
            self._unanswered(item, offer, reason)
        elif was is OfferState.ANSWERED and item is not None:
            self._end_talk(item, offer, hang_up_agent=False)
            if item.attempt:
                self._attempt_failed(item, f"agent {offer.agent} left before the customer was connected",
                                     offer.agent)
            else:
                self._back_in_line(item, offer)
        elif was is OfferState.BRIDGED and item is not None:
            # The flow first, the bridge's end after: a prompt sent to a caller on its way out
            # of the bridge was once lost, and the caller's keys with it.
            self._tell(item, AgentHungUp(offer.agent))
            self._end_talk(item, offer, hang_up_agent=False)
            item.move("agent hung up")
            if item.callback is not None:
                self._hang_up_customer(item)
                self._forget_item(item)
        self._forget_if_settled(offer)

    def _unanswered(self, item: WorkItem, offer: Offer, reason: str) -> None:
        self._log(f"call {item.id}: agent {offer.agent} did not answer ({reason})")
        self._line(item, "unanswered", self.clock() - item.waiting.joined_at, agent=offer.agent,
                   why=reason, rang=self.clock() - offer.rung_at)
        self.board.not_answered(offer.agent)
        del item.offers[offer.id]
        item.waiting.skipped.add(offer.agent)
        if not item.offers and not self._order(item, self._taken()).agents:
            # Every member tried once: start over at the next tick rather than leave the item
            # unserved (at once, phones that fail at once were rung in a loop).
            item.start_over = True
        self._round_moves(item)
        self._rematch = True

    def _back_in_line(self, item: WorkItem, offer: Offer) -> None:
        """The agent was lost between answering and the bridge: the item waits again, in the
        place it had, and the caller is told (``AgentHungUp`` before ``AgentConnected``)."""
        self._log(f"call {item.id}: agent {offer.agent} lost before the bridge; waiting again")
        item.move("agent lost")
        self.lines[item.campaign].rejoin(item.waiting)
        self._tell(item, AgentHungUp(offer.agent))
        self._rematch = True

    def _withdraw(self, offer: Offer) -> None:
        was = offer.state
        offer.move("withdraw")
        offered = was in (OfferState.CLAIMED, OfferState.RINGING)
        if offered and offer.on_board and self.board.status(offer.agent).state is State.RINGING:
            self.board.withdrawn(offer.agent)
        if was is OfferState.RINGING:
            self._out.append(HangUpAgent(offer.id))
        if (item := self.items.get(offer.work_id)) is not None:
            item.offers.pop(offer.id, None)
        self._forget_if_settled(offer)

    def _end_talk(self, item: WorkItem, offer: Offer, hang_up_agent: bool) -> None:
        """The conversation (or the attempt at one) is over for the agent: wrap-up, then ready.
        Ending a bridged talk, the caller hung up first when the agent's leg is to be hung up."""
        item.connected = None
        if offer.state in (OfferState.BRIDGED, OfferState.ENDED) and item.bridged_at is not None:
            self._line(item, "ended", item.held_for, agent=offer.agent, first_position=item.first_position,
                       talked=self.clock() - item.bridged_at, by="caller" if hang_up_agent else "agent")
        if offer.state in (OfferState.ANSWERED, OfferState.BRIDGED):
            offer.move("withdraw")
        wrap_up = item.node.wrap_up if offer.on_board else 0
        if offer.on_board:
            self.board.call_ended(offer.agent, wrap_up)
        if wrap_up > 0:
            key = f"wrap-up:{offer.id}"
            self.wrap_ups[offer.agent] = key
            self._out.append(Wake(key, wrap_up))
        if hang_up_agent:
            self._out.append(HangUpAgent(offer.id))
        self._out.append(EndBridge(bridge_of(offer.id)))
        self._forget_if_settled(offer)

    def _release_idle(self) -> None:
        """The claims of agents no longer ringing, talking or wrapping up for this node's calls."""
        changed, self.board.changed = self.board.changed, {}
        for agent in changed:
            if agent in self.holding and (agent not in self.board.agents
                                          or self.board.status(agent).state not in HOLDING):
                self._out.append(ReleaseAgent(agent, self.holding.pop(agent)))
