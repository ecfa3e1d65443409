"""The distribution engine: work waiting in campaigns' lines, offered to agents.

One object holds every waiting item, every offer and the agents' board. ``handle(event)``
applies one event and returns the commands to carry out, in order; the clock, the wall clock
and the randomness of ``weighted-random`` are injected. An event that its offer's or item's state
does not allow raises ``IllegalEvent`` when ``strict`` (tests), and is logged otherwise.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date, datetime

from ivr.core.agents import AgentBoard, State
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import (
    AskTeam,
    BridgeCall,
    BriefAgent,
    ClaimAgent,
    DialCustomer,
    DistributionCommand,
    EndBridge,
    FinishAttempt,
    HangUpAgent,
    HangUpCustomer,
    HoldCallback,
    Log,
    NotifyAgent,
    RecallOwnAgent,
    ReleaseAgent,
    RingAgent,
    StartAttempt,
    TellCaller,
    Wake,
)
from ivr.core.distribution.events import (
    AgentBriefed,
    AgentsChanged,
    AttemptStarted,
    Bridged,
    BridgeFailed,
    CallbackDropped,
    CallbackHeld,
    CallbackQueued,
    CallerJoined,
    CallerLeft,
    CallerReady,
    ClaimGranted,
    ClaimRefused,
    CustomerLegEnded,
    DistributionEvent,
    OfferAnswered,
    OfferEnded,
    OwnAgentRecalled,
    PhoneSeen,
    RingFailed,
    Stopping,
    TeamAnswered,
    Woke,
)
from ivr.core.distribution.offers import Offer, OfferState
from ivr.core.distribution.transitions import IllegalEvent
from ivr.core.distribution.work import CallbackWork, WorkItem, WorkKind, WorkState
from ivr.core.events import (
    AgentAnswered,
    AgentConnected,
    AgentHungUp,
    CampaignNote,
    OwnAgentBusy,
    QueuePosition,
)
from ivr.core.events import Event as CallEvent
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.core.offer_order import Order, Spares, offer_order
from ivr.core.strategies import STRATEGIES
from ivr.core.waiting import Waiting, WaitingLine

TICK = "tick"
TICK_SECONDS = 2.0
"""Phones come online and other nodes release agents without telling: look again this often
while anything waits."""
WAITS_KEPT = 20
HOLDING = frozenset({State.RINGING, State.ON_CALL, State.WRAP_UP})
"""The states in which this node holds its claim on the agent."""
WAITING_STATES = frozenset({WorkState.ASKING, WorkState.WAITING, WorkState.OFFERING})


def callback_item(callback_id: str) -> str:
    """The work item (and the prefix of its legs' channel ids) of a callback."""
    return f"cb-{callback_id}"


class Distribution:
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
        self.held_elsewhere: set[str] = set()
        """Agents whose claim another node refused since the last tick."""
        self.spare_calls: dict[tuple[str, date], int] = {}
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

    # -- events in, commands out

    def handle(self, event: DistributionEvent) -> list[DistributionCommand]:
        self._out, self._rematch = [], False
        try:
            self._apply(event)
        except IllegalEvent as exc:
            if self.strict:
                raise
            self._log(f"distribution: {exc}; ignored", logging.ERROR)
        self._release_idle()
        if self._rematch:
            self._match()
        out, self._out = self._out, []
        return out

    def _apply(self, event: DistributionEvent) -> None:
        match event:
            case CallerJoined():
                self._join(event)
            case CallerLeft(call_id=call_id):
                self._leave(call_id)
            case CallerReady(call_id=call_id):
                self._ready(call_id)
            case CallbackQueued():
                self._queue_callback(event)
            case CallbackHeld(callback_id=callback_id, held=held):
                self._held(callback_id, held)
            case CallbackDropped(callback_id=callback_id):
                self._dropped(callback_id)
            case AgentBriefed(offer_id=offer_id):
                self._briefed(offer_id)
            case AttemptStarted(callback_id=callback_id, attempt=attempt):
                self._attempt_started(callback_id, attempt)
            case CustomerLegEnded(channel_id=channel_id, reason=reason):
                self._customer_gone(channel_id, reason)
            case TeamAnswered():
                self._team(event)
            case OwnAgentRecalled():
                self._own_agent(event)
            case ClaimGranted(offer_id=offer_id):
                self._granted(self._offer(offer_id))
            case ClaimRefused(offer_id=offer_id):
                self._refused(self._offer(offer_id))
            case RingFailed(offer_id=offer_id, reason=reason):
                self._ended(self._offer(offer_id), f"originate failed: {reason}", "ring failed")
            case OfferAnswered(offer_id=offer_id):
                self._answered(offer_id)
            case OfferEnded(offer_id=offer_id, reason=reason):
                if (offer := self.offers.get(offer_id)) is not None:
                    self._ended(offer, reason, "ended")
            case Bridged(offer_id=offer_id, bridge_id=bridge_id):
                self._bridged(offer_id, bridge_id)
            case BridgeFailed(offer_id=offer_id, bridge_id=bridge_id, reason=reason):
                self._bridge_failed(offer_id, bridge_id, reason)
            case PhoneSeen():
                self._phone(event)
            case AgentsChanged():
                self._rematch = True
            case Woke(key=key):
                self._woke(key)
            case Stopping():
                self.stopping = True

    # -- queries

    def position(self, call_id: str) -> QueuePosition | None:
        item = self.items.get(call_id)
        if item is None:
            return None
        position = self.lines[item.campaign].position(call_id) or 1
        waits = self.waits.get(item.campaign)
        minutes = math.ceil(sum(waits) / len(waits) * position / 60) if waits else None
        return QueuePosition(position, minutes)

    def is_waiting(self, call_id: str) -> bool:
        item = self.items.get(call_id)
        return item is not None and item.state in WAITING_STATES

    def is_talking(self, call_id: str) -> bool:
        item = self.items.get(call_id)
        return item is not None and item.connected is not None

    def waiting_lines(self) -> Mapping[str, list[Waiting]]:
        return {name: line.in_order() for name, line in sorted(self.lines.items())}

    # -- work joining and leaving

    def _join(self, event: CallerJoined) -> None:
        node = self.flow().nodes.get(Destination("campaign", event.campaign))
        if not isinstance(node, Campaign) or event.call_id in self.items:
            return
        line = self.lines.setdefault(event.campaign, WaitingLine())
        waiting = line.join(event.call_id, event.priority, self.clock() - event.waited)
        item = WorkItem(event.call_id, WorkKind.CALL, event.campaign, node, waiting, event.call)
        self.items[item.id] = item
        self._log(f"call {item.id}: waiting in campaign {item.campaign} (priority {event.priority}, "
                  f"position {line.position(item.id)})")
        if node.team_url:
            item.asking.add("team")
            data = tuple(item.call_data().items())
            self._out.append(AskTeam(item.id, node.team_url, node.team_deadline, data))
        if node.remember_agent and item.call.customer_id and not item.crm_agent():
            item.asking.add("own agent")
            self._out.append(RecallOwnAgent(item.id, item.call.customer_id))
        if item.asking:
            item.state = WorkState.ASKING
        self._rematch = True
        self._keep_ticking()

    def _keep_ticking(self) -> None:
        if not self._ticking:
            self._ticking = True
            self._out.append(Wake(TICK, TICK_SECONDS))

    def _leave(self, call_id: str) -> None:
        if call_id in self.legs:
            self._customer_gone(call_id, "the customer's call ended")
            return
        item = self.items.get(call_id)
        if item is None or (self.stopping and item.connected is not None):
            return
        item.move("leave")
        del self.items[call_id]
        self.lines[item.campaign].leave(call_id)
        for offer in list(item.offers.values()):
            self._withdraw(offer)
        if item.connected is not None:
            self._end_talk(item, self.offers[item.connected], hang_up_agent=True)
        self._rematch = True

    def _team(self, event: TeamAnswered) -> None:
        item = self.items.get(event.call_id)
        if item is None:
            return
        if event.agents is None:
            note = f"dynamic team unavailable ({event.reason}); the campaign's strategy is used"
            self._log(f"call {item.id}: {note}", logging.WARNING)
        else:
            item.team = event.agents
            note = f"dynamic team: {', '.join(event.agents) or 'nobody'}"
            if event.reason:
                self._log(f"call {item.id}: dynamic team: {event.reason}", logging.WARNING)
                note += f" ({event.reason})"
        self._tell(item, CampaignNote(note))
        self._asked(item, "team")

    def _own_agent(self, event: OwnAgentRecalled) -> None:
        item = self.items.get(event.call_id)
        if item is None:
            return
        if event.error:
            self._log(f"call {item.id}: the customer's own agent not read ({event.error}); any agent serves",
                      logging.ERROR)
        item.stored_agent = event.agent
        if event.agent:
            self._tell(item, CampaignNote(f"own agent {event.agent} (stored)"))
        self._asked(item, "own agent")

    def _asked(self, item: WorkItem, what: str) -> None:
        item.asking.discard(what)
        if not item.asking and item.state is WorkState.ASKING:
            item.move("answered")
            self._rematch = True

    # -- matching work and agents

    def _match(self) -> None:
        """Offer each waiting item, in the order of its rank across campaigns, to the next
        agents in line."""
        ranked = sorted((w for line in self.lines.values() for w in line.in_order()), key=lambda w: w.rank)
        for waiting in ranked:
            item = self.items.get(waiting.call_id)
            if item is not None and item.state is WorkState.WAITING:
                self._offer_next(item)

    def _offer_next(self, item: WorkItem) -> None:
        found = self._order(item)
        if found.own_agent_busy:
            item.waiting.skipped.add(found.own_agent_busy)
            self._tell(item, OwnAgentBusy(found.own_agent_busy))
        agents = [agent for agent in found.agents if agent in self.flow().agents]
        if not agents:
            return
        if item.callback is not None and not item.held:
            # Held only once an agent is free for it: a node holding callbacks it cannot serve
            # would keep them from the other nodes' agents.
            item.move("hold")
            item.asking.add("hold")
            self._out.append(HoldCallback(item.callback.callback_id))
            return
        if not (STRATEGIES[item.node.strategy].rings_all and item.team is None):
            agents = agents[:1]
        item.move("offer")
        for agent in agents:
            offer = Offer(f"{item.id}-agent-{next(self._ids)}", item.id, agent)
            self.offers[offer.id] = item.offers[offer.id] = offer
            self._out.append(ClaimAgent(offer.id, agent))

    def _order(self, item: WorkItem) -> Order:
        node, flow, now = item.node, self.flow(), self.wall()
        in_hours = not node.overflow_hours or flow.within(node.overflow_hours, node.overflow_timezone, now)
        today = self._spare_day(node, now)
        spares = Spares(self.clock() - item.waiting.joined_at, in_hours,
                        {a: n for (a, day), n in self.spare_calls.items() if day == today})
        claiming = {offer.agent for offer in self.offers.values() if offer.claim_open}
        skipped = frozenset(item.waiting.skipped | self.held_elsewhere | claiming)
        return offer_order(node, self.board, skipped, item.preferred(flow.agent_names), item.team, spares,
                           self.rng)

    def _spare_day(self, node: Campaign, now: datetime) -> date:
        """The day a spare's daily limit counts in: the campaign's ``overflow_timezone``."""
        zone = self.flow().zones.get(node.overflow_timezone) if node.overflow_daily_limit else None
        return now.astimezone(zone).date() if zone is not None else now.date()

    # -- an offer's life

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
            self._out.append(NotifyAgent(offer.agent, (("type", "offer"), ("agent", offer.agent),
                                                       *item.call_data().items())))
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

    def _ring(self, item: WorkItem, offer: Offer) -> None:
        offer.move("ring")
        offer.leg = True
        node, variables = item.node, item.call.agent_variables(item.campaign)
        shown = f"{item.campaign} <{item.call.caller}>"
        if item.callback is not None:
            shown = f"callback {shown}"
            variables += (("IVR_CALLBACK", item.callback.callback_id),)
        self._out.append(RingAgent(offer.id, offer.agent, self.flow().agent_endpoint(offer.agent), item.id,
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
        self.waits.setdefault(item.campaign, deque(maxlen=WAITS_KEPT)).append(
            self.clock() - item.waiting.joined_at)
        self.board.answered(offer.agent)
        for other in list(item.offers.values()):
            self._withdraw(other)
        if item.callback is not None:
            self._out.append(BriefAgent(offer.id, item.callback.briefing))
        self._tell(item, AgentAnswered(offer.agent))

    def _count_spare(self, item: WorkItem, agent: str) -> None:
        if agent in item.node.overflow_agents and agent not in item.node.agents:
            day = (agent, self._spare_day(item.node, self.wall()))
            self.spare_calls[day] = self.spare_calls.get(day, 0) + 1
            self._tell(item, CampaignNote(f"overflow: answered by spare {agent}"))

    def _ready(self, call_id: str) -> None:
        """The caller is ready to be bridged; when the agent was lost meanwhile (it waits again,
        told by ``AgentHungUp``), nothing is to be done."""
        item = self.items.get(self.legs.get(call_id, call_id))
        if item is not None and item.state is WorkState.CONNECTING and item.connected is not None:
            self._out.append(BridgeCall(item.bridge_id, call_id, item.connected))

    def _bridged(self, offer_id: str, bridge_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.state is not OfferState.ANSWERED:
            # The agent or the caller went while the bridge was made.
            self._out.append(EndBridge(bridge_id))
            return
        item = self.items[offer.work_id]
        offer.move("bridged")
        item.move("bridged")
        self._log(f"{item.kind.value} {item.id}: bridged with agent {offer.agent}")
        self._tell(item, AgentConnected(offer.agent))
        if item.callback is not None:
            self._out.append(FinishAttempt(item.callback.callback_id, item.attempt, True,
                                           f"accepted; talked with agent {offer.agent}"))

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
            self._attempt_failed(item, f"could not bridge: {reason}")
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
                self._attempt_failed(item, f"agent {offer.agent} left before the customer was connected")
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
        self.board.not_answered(offer.agent)
        del item.offers[offer.id]
        item.waiting.skipped.add(offer.agent)
        if not item.offers and not self._order(item).agents:
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
        if offered and self.board.status(offer.agent).state is State.RINGING:
            self.board.withdrawn(offer.agent)
        if was is OfferState.RINGING:
            self._out.append(HangUpAgent(offer.id))
        if (item := self.items.get(offer.work_id)) is not None:
            item.offers.pop(offer.id, None)
        self._forget_if_settled(offer)

    def _end_talk(self, item: WorkItem, offer: Offer, hang_up_agent: bool) -> None:
        """The conversation (or the attempt at one) is over for the agent: wrap-up, then ready."""
        item.connected = None
        if offer.state in (OfferState.ANSWERED, OfferState.BRIDGED):
            offer.move("withdraw")
        wrap_up = item.node.wrap_up
        self.board.call_ended(offer.agent, wrap_up)
        if wrap_up > 0:
            key = f"wrap-up:{offer.id}"
            self.wrap_ups[offer.agent] = key
            self._out.append(Wake(key, wrap_up))
        if hang_up_agent:
            self._out.append(HangUpAgent(offer.id))
        self._out.append(EndBridge(item.bridge_id))
        self._forget_if_settled(offer)

    def _forget_if_settled(self, offer: Offer) -> None:
        if offer.settled:
            self.offers.pop(offer.id, None)

    def _release_idle(self) -> None:
        for agent, offer_id in list(self.holding.items()):
            if agent not in self.board.agents or self.board.status(agent).state not in HOLDING:
                del self.holding[agent]
                self._out.append(ReleaseAgent(agent, offer_id))

    # -- callbacks

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
        self._attempt_failed(item, reason)

    def _attempt_failed(self, item: WorkItem, reason: str) -> None:
        """No customer to talk to: the store retries it later (or it is exhausted); the agent
        is free now."""
        assert item.callback is not None
        self._log(f"callback {item.callback.callback_id}: attempt {item.attempt} failed: {reason}")
        self._hang_up_customer(item)
        self._out.append(FinishAttempt(item.callback.callback_id, item.attempt, False, reason))
        item.move("attempt failed")
        self._forget_item(item)

    def _hang_up_customer(self, item: WorkItem) -> None:
        if item.customer_leg is not None and self.legs.pop(item.customer_leg, None) is not None:
            self._out.append(HangUpCustomer(item.customer_leg))

    def _forget_item(self, item: WorkItem) -> None:
        del self.items[item.id]
        self.lines[item.campaign].leave(item.id)

    # -- agents, phones, timers

    def _woke(self, key: str) -> None:
        if key == TICK:
            self.held_elsewhere.clear()
            for item in self.items.values():
                if item.start_over:
                    item.start_over = False
                    item.waiting.skipped.clear()
            self._rematch = True
            self._ticking = bool(self.items)
            if self._ticking:
                self._out.append(Wake(TICK, TICK_SECONDS))
            return
        for agent, wrap_up in list(self.wrap_ups.items()):
            if wrap_up == key:
                del self.wrap_ups[agent]
                if agent in self.board.agents and self.board.status(agent).state is State.WRAP_UP:
                    self.board.ready(agent)
                    self._rematch = True

    def _phone(self, seen: PhoneSeen) -> None:
        agent = seen.agent
        config = self.flow().agents.get(agent)
        if agent not in self.board.agents or config is None or config.trunk:
            return
        status = self.board.status(agent)
        was_free = status.reachable and not status.device_busy
        if seen.state is None:
            self._log(f"agent {agent}: endpoint unknown to Asterisk; not offered now", logging.WARNING)
            self.board.device(agent, reachable=False)
            return
        # Only a registration tells whether a phone is reachable: a fixed-address phone (not
        # qualified) may be reported offline after a reload while it answers fine.
        reachable = config.phone != "register" or seen.state != "offline"
        if status.reachable and not reachable:
            self._log(f"agent {agent}: phone offline; not offered now")
        elif seen.busy and not status.device_busy and status.state is State.READY:
            self._log(f"agent {agent}: phone busy in a call of its own; not offered now")
        self.board.device(agent, reachable=reachable, busy=seen.busy)
        if reachable and not seen.busy and not was_free:
            self._rematch = True

    # -- output

    def _tell(self, item: WorkItem, event: CallEvent) -> None:
        if item.kind is WorkKind.CALL:
            self._out.append(TellCaller(item.id, event))

    def _log(self, message: str, level: int = logging.INFO) -> None:
        self._out.append(Log(message, level))
