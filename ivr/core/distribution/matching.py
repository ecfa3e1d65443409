"""Waiting work matched with agents: each waiting item, in the order of its rank across
campaigns, offered to the next agents in line (own agent, dynamic team, the campaign's strategy,
spares), a claim asked for each offer. A callback is held first, once an agent is free for it.
"""

from __future__ import annotations

from datetime import date, datetime

from ivr.core.distribution.commands import ClaimAgent, HoldCallback, LetGoCallback
from ivr.core.distribution.engine_state import EngineState
from ivr.core.distribution.events import SpareCounts
from ivr.core.distribution.offers import Offer
from ivr.core.distribution.work import WorkItem, WorkState
from ivr.core.events import OwnAgentBusy
from ivr.core.nodes import Campaign
from ivr.core.offer_order import Order, Spares, offer_order
from ivr.core.strategies import STRATEGIES


class Matching(EngineState):
    def _match(self) -> None:
        """Offer each waiting item, in the order of its rank across campaigns, to the next
        agents in line."""
        ranked = sorted((w for line in self.lines.values() for w in line.in_order()), key=lambda w: w.rank)
        if not ranked:
            return
        taken = self._taken()
        for waiting in ranked:
            item = self.items.get(waiting.call_id)
            if item is not None and item.state is WorkState.WAITING and not (item.node.pull or item.backend):
                self._offer_next(item, taken)

    def _taken(self) -> set[str]:
        """Agents not to be offered anything now: their claim is being asked, another node holds
        them, or they are kept for a callback. Once per match, not once per waiting item."""
        claiming = {offer.agent for offer in self.offers.values() if offer.claim_open}
        return claiming | self.held_elsewhere | set(self.kept_for)

    def _offer_next(self, item: WorkItem, taken: set[str]) -> None:
        found = self._order(item, taken)
        if found.own_agent_busy:
            item.waiting.skipped.add(found.own_agent_busy)
            self._tell(item, OwnAgentBusy(found.own_agent_busy))
        agents = [agent for agent in found.agents if agent in self.flow().agents]
        if not agents:
            if item.callback is not None and item.held:
                # Nobody here is free for it any more: another node's agent may take it.
                item.held = False
                self._out.append(LetGoCallback(item.callback.callback_id))
            return
        if not (STRATEGIES[item.node.strategy].rings_all and item.team is None):
            agents = agents[:1]
        if item.callback is not None and not item.held:
            # Held only once an agent is free for it: a node holding callbacks it cannot serve
            # would keep them from the other nodes' agents.
            item.move("hold")
            item.asking.add("hold")
            self.kept_for.update(dict.fromkeys(agents, item.id))
            taken.update(agents)
            self._out.append(HoldCallback(item.callback.callback_id))
            return
        item.move("offer")
        taken.update(agents)
        for agent in agents:
            offer = Offer(f"{item.id}-agent-{next(self._ids)}", item.id, agent)
            self.offers[offer.id] = item.offers[offer.id] = offer
            self._out.append(ClaimAgent(offer.id, agent))

    def _order(self, item: WorkItem, taken: set[str]) -> Order:
        node, flow, now = item.node, self.flow(), self.wall()
        in_hours = not node.overflow_hours or flow.within(node.overflow_hours, node.overflow_timezone, now)
        today = self._spare_day(node, now)
        spares = Spares(self.clock() - item.waiting.joined_at, in_hours,
                        {a: n for (a, day), n in self.spare_calls.items() if day == today})
        its_own = {agent for agent, owner in self.kept_for.items() if owner == item.id}
        skipped = frozenset(item.waiting.skipped | (taken - its_own))
        return offer_order(node, self.board, skipped, item.preferred(flow.agent_names), item.team, spares,
                           self.rng)

    def _spare_day(self, node: Campaign, now: datetime) -> date:
        """The day a spare's daily limit counts in: the campaign's ``overflow_timezone``."""
        zone = self.flow().zones.get(node.overflow_timezone) if node.overflow_daily_limit else None
        return now.astimezone(zone).date() if zone is not None else now.date()

    def _stored_spares(self, stored: SpareCounts) -> None:
        """The store's count wins unless this node's is higher: a call it counted may not be
        stored yet (or could not be), and counts never go back within a day."""
        for agent, count in stored.counts:
            key = (agent, stored.day)
            self.spare_calls[key] = max(count, self.spare_calls.get(key, 0))
