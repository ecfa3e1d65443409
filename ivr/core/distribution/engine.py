"""The distribution engine: work waiting in campaigns' lines, offered to agents.

One object holds every waiting item, every offer and the agents' board. ``handle(event)``
applies one event and returns the commands to carry out, in order; the clock, the wall clock
and the randomness of ``weighted-random`` are injected. An event that its offer's or item's state
does not allow raises ``IllegalEvent`` when ``strict`` (tests), and is logged otherwise.

``Distribution`` keeps the events' dispatch, the queries, callers joining and leaving, the
dynamic team and the own agent, timers and phones. It is built on ``engine_state.EngineState``
(the state and shared helpers), ``matching.Matching`` (waiting work to agents),
``offering.Offering`` (an offer's life) and ``calling_back.CallingBack`` (callbacks).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date

from ivr.core.agents import State
from ivr.core.destinations import Destination
from ivr.core.distribution.backend_run import BackendRun
from ivr.core.distribution.calling_back import CallingBack
from ivr.core.distribution.commands import AskTeam, DistributionCommand, RecallOwnAgent, Wake
from ivr.core.distribution.engine_state import TICK, TICK_SECONDS, WAITING_STATES
from ivr.core.distribution.events import (
    AgentBriefed,
    AgentsChanged,
    AttemptStarted,
    BackendAccepted,
    Bridged,
    BridgeFailed,
    CallbackDropped,
    CallbackHeld,
    CallbackQueued,
    CallerJoined,
    CallerLeft,
    CallerReady,
    CallPulled,
    ClaimGranted,
    ClaimRefused,
    ConnectTarget,
    CustomerLegEnded,
    DistributionEvent,
    OfferAnswered,
    OfferEnded,
    OwnAgentRecalled,
    PhoneSeen,
    PullOpened,
    RingFailed,
    SpareCounts,
    StaffTexted,
    Stopping,
    TeamAnswered,
    Woke,
)
from ivr.core.distribution.pulling import Pulling
from ivr.core.distribution.transitions import IllegalEvent
from ivr.core.distribution.work import WorkItem, WorkKind, WorkState
from ivr.core.events import CampaignNote, QueuePosition
from ivr.core.nodes import Campaign
from ivr.core.waiting import Waiting, WaitingLine


class Distribution(CallingBack, Pulling, BackendRun):
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
            case CallerLeft():
                self._leave(event)
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
            case PullOpened():
                self._pull_opened(event)
            case StaffTexted():
                self._texted(event)
            case CallPulled():
                self._pulled(event)
            case BackendAccepted():
                self._backend_accepted(event)
            case ConnectTarget():
                self._connect(event)
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
            case SpareCounts():
                self._stored_spares(event)
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
        """Also for a callback's customer, by the leg."""
        item = self.items.get(self.legs.get(call_id, call_id))
        return item is not None and item.connected is not None

    def backend_state(self, call_id: str) -> str | None:
        """A backend-run call as its backend sees it: ``waiting`` (for a command), ``ringing``,
        ``connecting``, ``talking``, or ``strategy`` (the backend was unreachable); None: gone."""
        item = self.items.get(call_id)
        if item is None:
            return None
        if not item.backend:
            return "strategy"
        return {WorkState.OFFERING: "ringing"}.get(item.state, item.state.value)

    def waiting_lines(self) -> Mapping[str, list[Waiting]]:
        return {name: line.in_order() for name, line in sorted(self.lines.items())}

    def spare_days(self) -> set[date]:
        """The days spares' calls count in now, for the counts to be read from the store: one
        per ``overflow_timezone`` of a campaign with an ``overflow_daily_limit`` (a zone behind
        or ahead of UTC may be on another day)."""
        now = self.wall()
        return {self._spare_day(node, now) for node in self.flow().nodes.values()
                if isinstance(node, Campaign) and node.overflow_daily_limit}

    # -- work joining and leaving

    def _join(self, event: CallerJoined) -> None:
        node = self.flow().nodes.get(Destination("campaign", event.campaign))
        if not isinstance(node, Campaign) or event.call_id in self.items:
            return
        line = self.lines.setdefault(event.campaign, WaitingLine())
        waiting = line.join(event.call_id, event.priority, self.clock() - event.waited)
        item = WorkItem(event.call_id, WorkKind.CALL, event.campaign, node, waiting, event.call)
        self.items[item.id] = item
        item.first_position = line.position(item.id) or 1
        self._log(f"call {item.id}: waiting in campaign {item.campaign} (priority {event.priority}, "
                  f"position {item.first_position})")
        self._line(item, "entered", event.waited, position=item.first_position,
                   first_position=item.first_position, caller=event.call.caller)
        if node.pull:
            self._open_pull(item)
            return
        if node.backend:
            self._hand_over(item)
            return
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

    def _leave(self, event: CallerLeft) -> None:
        call_id, why = event.call_id, event.why
        if call_id in self.legs:
            self._customer_gone(call_id, "the customer's call ended")
            return
        item = self.items.get(call_id)
        if item is None or (self.stopping and item.connected is not None):
            return
        if item.state in WAITING_STATES:
            self._left_line(item, event)
        item.move("leave")
        self._close_pull(item, why)
        self._caller_left(item, why)
        del self.items[call_id]
        self.lines[item.campaign].leave(call_id)
        for offer in list(item.offers.values()):
            self._withdraw(offer)
        if item.connected is not None:
            self._end_talk(item, self.offers[item.connected], hang_up_agent=True)
        self._rematch = True

    def _left_line(self, item: WorkItem, event: CallerLeft) -> None:
        """Unanswered: an abandon when the caller hung up, else the flow's reason."""
        waited = self.clock() - item.waiting.joined_at
        place = {"position": self.lines[item.campaign].position(item.id) or 1,
                 "first_position": item.first_position}
        if event.hung_up:
            self._line(item, "abandoned", waited, **place)
        else:
            self._line(item, "left", waited, why=event.why, how=event.how,
                       key=event.key if event.how == "key" else "", **place)

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
