"""App-run campaigns: callers waiting in line, offers to agents, bridges.

The order of offers is the pure strategy's (``ivr.core.strategies``); this adapter carries it
out over ARI: a leg to the agent's phone with the caller's channel as originator, a mixing
bridge when the agent answers, and each side's hang-up ending the other.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.agents import AgentBoard, State
from ivr.core.destinations import Destination
from ivr.core.events import AgentConnected, AgentHungUp, CampaignNote, Event, QueuePosition
from ivr.core.flow import Flow
from ivr.core.nodes import Agent, Campaign
from ivr.core.strategies import SkillNeed, candidates
from ivr.core.waiting import Waiting, WaitingLine
from ivr.crm.team import ask_team

log = logging.getLogger("ivr.campaigns")

RETRY_SECONDS = 2.0
WAITS_KEPT = 20
AGENT_LEG = "agent"
"""First Stasis argument of an agent's leg: ``agent,<caller channel>,<agent>``."""


@dataclass
class Offer:
    channel_id: str
    call_id: str
    agent: str
    answered: bool = False
    withdrawn: bool = False


@dataclass
class Caller:
    call_id: str
    campaign: str
    node: Campaign
    waiting: Waiting
    variables: tuple[tuple[str, str], ...]
    offers: set[str] = field(default_factory=set)
    bridge: str | None = None
    agent_leg: Offer | None = None
    team: tuple[str, ...] | None = None
    asking_team: bool = False

    def call_data(self) -> dict[str, Any]:
        """What the dynamic team service and the agents' screen pop are told of the call."""
        variables = dict(self.variables)
        return {"call": self.call_id, "campaign": self.campaign, "caller": variables.get("IVR_CALLER", ""),
                "did": variables.get("IVR_DID", ""), "customer_id": variables.get("IVR_CUSTOMER_ID", ""),
                "variables": {k.removeprefix("IVR_CRM_").lower(): v for k, v in self.variables
                              if k.startswith("IVR_CRM_")}}

    def preferred(self, agents: Mapping[str, Agent]) -> str:
        """The customer's own agent, as the CRM named it (``agent`` variable: id or email)."""
        named = dict(self.variables).get("IVR_CRM_AGENT", "") if self.node.prefer_crm_agent else ""
        by_email = {agent.email: name for name, agent in agents.items() if agent.email}
        return by_email.get(named, named)


class Campaigns:
    def __init__(self, rest: AriRest, app: str, board: AgentBoard, flow: Callable[[], Flow],
                 post: Callable[[str, Event], None], clock: Callable[[], float],
                 http: httpx.AsyncClient | None = None,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.rest = rest
        self.wall = wall
        self.spare_calls: dict[tuple[str, date], int] = {}
        self.http = http
        self.app = app
        self.board = board
        self.flow = flow
        self.post = post
        self.clock = clock
        self.lines: dict[str, WaitingLine] = {}
        self.callers: dict[str, Caller] = {}
        self.offers: dict[str, Offer] = {}
        self._ids = itertools.count(1)
        self._matching = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.stopping = False
        """Set when the app stops: conversations with agents are left bridged, not torn down."""
        self.waits: dict[str, deque[float]] = {}
        """Per campaign, how long the last callers served waited (for the estimate)."""
        self._tasks: set[asyncio.Task[None]] = set()

    def join(self, call_id: str, campaign: str, priority: int,
             variables: tuple[tuple[str, str], ...], waited: float = 0.0) -> None:
        node = self.flow().nodes.get(Destination("campaign", campaign))
        if not isinstance(node, Campaign) or call_id in self.callers:
            return
        line = self.lines.setdefault(campaign, WaitingLine())
        waiting = line.join(call_id, priority, self.clock() - waited)
        caller = Caller(call_id, campaign, node, waiting, variables)
        self.callers[call_id] = caller
        log.info("call %s: waiting in campaign %s (priority %d, position %s)", call_id, campaign,
                 priority, self.lines[campaign].position(call_id))
        if node.team_url and self.http is not None:
            caller.asking_team = True
            self._spawn(self._ask_team(caller, self.http))
        self._spawn(self.match())
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        """Phones come online and finish other calls without telling us: look again now and
        then while anyone waits."""
        while self.callers:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await self.match()
            except Exception:
                log.exception("campaigns: matching callers and agents failed; trying again")

    def leave(self, call_id: str) -> None:
        """The caller left (hung up, gave up waiting, or the call ended): release everything."""
        caller = self.callers.get(call_id)
        if caller is None or (self.stopping and caller.agent_leg is not None):
            return
        del self.callers[call_id]
        self.lines[caller.campaign].leave(call_id)
        for channel_id in list(caller.offers):
            self._withdraw(self.offers[channel_id])
        if caller.agent_leg is not None:
            self._end_talk(caller, caller.agent_leg, hang_up_agent=True)
        self._spawn(self.match())

    def position(self, call_id: str) -> QueuePosition | None:
        caller = self.callers.get(call_id)
        if caller is None:
            return None
        position = self.lines[caller.campaign].position(call_id) or 1
        waits = self.waits.get(caller.campaign)
        minutes = math.ceil(sum(waits) / len(waits) * position / 60) if waits else None
        return QueuePosition(position, minutes)

    def is_talking(self, call_id: str) -> bool:
        caller = self.callers.get(call_id)
        return caller is not None and caller.agent_leg is not None

    def is_waiting(self, call_id: str) -> bool:
        caller = self.callers.get(call_id)
        return caller is not None and caller.agent_leg is None

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.offers

    def on_event(self, event: dict[str, Any], channel_id: str) -> None:
        offer = self.offers.get(channel_id)
        kind = event.get("type")
        if offer is None:
            if kind == "StasisStart":
                log.warning("agent leg %s of an earlier process: hanging up", channel_id)
                self._spawn(self._hang_up(channel_id))
            return
        if kind == "StasisStart":
            self._spawn(self._answered(offer))
        elif kind in ("ChannelDestroyed", "StasisEnd"):
            self._gone(offer, str(event.get("cause_txt") or kind))

    async def match(self) -> None:
        """Offer each waiting caller without a pending offer to the next agents in line."""
        async with self._matching:
            everyone = sorted((w for line in self.lines.values() for w in line.in_order()),
                              key=lambda w: w.rank)
            callers = [c for w in everyone if (c := self.callers.get(w.call_id)) is not None
                       and not c.offers and c.agent_leg is None and not c.asking_team]
            agents = self.flow().agents
            await self._look_at_phones([a for c in callers for a in (
                c.preferred(agents), *(c.team if c.team is not None else c.node.agents),
                *c.node.overflow_agents)])
            for caller in callers:
                await self._offer_next(caller)

    async def _ask_team(self, caller: Caller, http: httpx.AsyncClient) -> None:
        flow = self.flow()
        known = {**{a: a for a in flow.agents}, **{agent.email: name for name, agent in flow.agents.items()
                                                   if agent.email}}
        answer = await ask_team(http, caller.node.team_url, caller.node.team_deadline, caller.call_data(),
                                known)
        caller.asking_team = False
        if answer.agents is None:
            note = f"dynamic team unavailable ({answer.reason}); the campaign's strategy is used"
            log.warning("call %s: %s", caller.call_id, note)
        else:
            caller.team = answer.agents
            note = f"dynamic team: {', '.join(answer.agents) or 'nobody'}"
            if answer.reason:
                log.warning("call %s: dynamic team: %s", caller.call_id, answer.reason)
                note += f" ({answer.reason})"
        self.post(caller.call_id, CampaignNote(note))
        await self.match()

    def _order(self, caller: Caller) -> list[str]:
        """Who to offer the call to: the customer's own agent first, then the dynamic team's
        list in its order, or else the campaign's strategy."""
        node, skipped = caller.node, frozenset(caller.waiting.skipped)
        preferred = caller.preferred(self.flow().agents)
        if preferred and preferred in self.board.agents and preferred not in skipped:
            if self.board.available(preferred):
                return [preferred]
            caller.waiting.skipped.add(preferred)
            self.post(caller.call_id, CampaignNote(f"own agent {preferred} not available"))
        if caller.team is not None:
            order = [a for a in self.board.available_among(caller.team) if a not in skipped]
        else:
            needs = [SkillNeed(skill, level) for skill, level in node.skills.items()]
            order = candidates(node.strategy, node.agents, self.board, skipped, needs)
        return order or self._spares(caller, skipped)

    def _spares(self, caller: Caller, skipped: frozenset[str]) -> list[str]:
        """Overflow: once a caller has waited long enough with no agent free, the spare
        numbers, in their order, within their hours and their daily limit."""
        node = caller.node
        if not node.overflow_after or self.clock() - caller.waiting.joined_at < node.overflow_after:
            return []
        now = self.wall()
        if node.overflow_hours and not self.flow().within(node.overflow_hours, node.overflow_timezone, now):
            return []
        limit = node.overflow_daily_limit
        return [a for a in self.board.available_among(node.overflow_agents) if a not in skipped
                and not (limit and self.spare_calls.get((a, now.date()), 0) >= limit)]

    async def _offer_next(self, caller: Caller) -> None:
        ring_all = caller.node.strategy == "ring-all" and caller.team is None
        for agent in self._order(caller):
            await self._offer(caller, agent)
            if not ring_all:
                return

    async def _look_at_phones(self, agents: list[str]) -> None:
        """Asterisk's view of each ready agent's phone, asked in one request per match for all
        the callers it serves (one request per phone cost 0.8 s a match with 400 agents):
        offline, or already in a call, means no offer now (a phone back online is offered the
        next call)."""
        ready = [a for a in dict.fromkeys(agents)
                 if a in self.board.agents and self.board.status(a).state is State.READY]
        if not ready:
            return
        try:
            endpoints = {e.get("resource"): e for e in await self.rest.endpoints("PJSIP")}
        except (AriError, OSError) as exc:
            log.warning("agents' phones: cannot ask Asterisk (%s); no offer now", exc)
            endpoints = {}
        for agent in ready:
            self._note_phone(agent, endpoints.get(f"agent-{agent}"))

    def _note_phone(self, agent: str, endpoint: dict[str, Any] | None) -> None:
        if endpoint is None:
            log.warning("agent %s: endpoint unknown to Asterisk; not offered now", agent)
            self.board.device(agent, reachable=False)
            return
        # Only a registration tells whether a phone is reachable: a fixed-address phone
        # (not qualified) may be reported offline after a reload while it answers fine.
        config = self.flow().agents.get(agent)
        registers = config is not None and config.phone == "register"
        reachable = not registers or endpoint.get("state") != "offline"
        busy = bool(endpoint.get("channel_ids"))
        status = self.board.status(agent)
        if (reachable, busy) != (status.reachable, status.device_busy) and (not reachable or busy):
            log.info("agent %s: phone %s; not offered now", agent, "offline" if not reachable else "busy")
        self.board.device(agent, reachable=reachable, busy=busy)

    async def _offer(self, caller: Caller, agent: str) -> None:
        channel_id = f"{caller.call_id}-agent-{next(self._ids)}"
        offer = Offer(channel_id, caller.call_id, agent)
        self.board.offered(agent)
        self.offers[channel_id] = offer
        caller.offers.add(channel_id)
        log.info("call %s: offered to agent %s (%s)", caller.call_id, agent, caller.node.strategy)
        self._publish({"type": "offer", "agent": agent, **caller.call_data()})
        try:
            await self.rest.call_agent(f"PJSIP/agent-{agent}", self.app,
                                       f"{AGENT_LEG},{caller.call_id},{agent}", channel_id,
                                       caller.call_id, f"{caller.campaign} <{caller.call_data()['caller']}>",
                                       max(1, round(caller.node.ring_timeout)), dict(caller.variables))
        except (AriError, OSError) as exc:
            log.warning("call %s: cannot ring agent %s: %s", caller.call_id, agent, exc)
            self._gone(offer, f"originate failed: {exc}")

    async def _answered(self, offer: Offer) -> None:
        caller = self.callers.get(offer.call_id)
        if caller is None or caller.agent_leg is not None or offer.withdrawn:
            await self._hang_up(offer.channel_id)
            return
        offer.answered = True
        self.lines[caller.campaign].leave(caller.call_id)
        if offer.agent in caller.node.overflow_agents and offer.agent not in caller.node.agents:
            day = (offer.agent, self.wall().date())
            self.spare_calls[day] = self.spare_calls.get(day, 0) + 1
            self.post(caller.call_id, CampaignNote(f"overflow: answered by spare {offer.agent}"))
        self.waits.setdefault(caller.campaign, deque(maxlen=WAITS_KEPT)).append(
            self.clock() - caller.waiting.joined_at)
        caller.offers.discard(offer.channel_id)
        caller.agent_leg = offer
        self.board.answered(offer.agent)
        for other in list(caller.offers):
            self._withdraw(self.offers[other])
        bridge = f"{caller.call_id}-bridge"
        caller.bridge = bridge
        try:
            await self.rest.create_bridge(bridge)
            await self.rest.add_to_bridge(bridge, [caller.call_id, offer.channel_id])
        except (AriError, OSError) as exc:
            log.warning("call %s: could not bridge agent %s: %s", caller.call_id, offer.agent, exc)
            return
        log.info("call %s: bridged with agent %s", caller.call_id, offer.agent)
        self.post(caller.call_id, AgentConnected(offer.agent))

    def _gone(self, offer: Offer, why: str) -> None:
        if self.offers.pop(offer.channel_id, None) is None:
            return
        caller = self.callers.get(offer.call_id)
        if offer.answered:
            if caller is not None and caller.agent_leg is offer:
                self.post(caller.call_id, AgentHungUp(offer.agent))
                self._end_talk(caller, offer, hang_up_agent=False)
            return
        if caller is not None:
            caller.offers.discard(offer.channel_id)
        if not offer.withdrawn:
            log.info("call %s: agent %s did not answer (%s)", offer.call_id, offer.agent, why)
            self.board.not_answered(offer.agent)
            if caller is not None:
                caller.waiting.skipped.add(offer.agent)
                if not caller.offers and self._nobody_left(caller):
                    caller.waiting.skipped.clear()
        self._spawn(self.match())

    def _nobody_left(self, caller: Caller) -> bool:
        """Every member tried once: start over rather than leave the caller unserved."""
        return not self._order(caller)

    def _withdraw(self, offer: Offer) -> None:
        offer.withdrawn = True
        status = self.board.status(offer.agent)
        if status.state is State.RINGING:
            self.board.withdrawn(offer.agent)
        self._spawn(self._hang_up(offer.channel_id))

    def _end_talk(self, caller: Caller, offer: Offer, hang_up_agent: bool) -> None:
        caller.agent_leg = None
        self.offers.pop(offer.channel_id, None)
        wrap_up = caller.node.wrap_up
        self.board.call_ended(offer.agent, wrap_up)
        if wrap_up > 0:
            asyncio.get_running_loop().call_later(wrap_up, self._wrapped_up, offer.agent)
        if hang_up_agent:
            self._spawn(self._hang_up(offer.channel_id))
        if caller.bridge is not None:
            self._spawn(self._destroy(caller.bridge))
            caller.bridge = None

    def _wrapped_up(self, agent: str) -> None:
        if self.board.status(agent).state is State.WRAP_UP:
            self.board.ready(agent)
            self._spawn(self.match())

    def _publish(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event)

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self.rest.hangup(channel_id)
        except (NotFound, AriError, OSError):
            pass

    async def _destroy(self, bridge: str) -> None:
        try:
            await self.rest.destroy_bridge(bridge)
        except (NotFound, AriError, OSError):
            pass

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("campaigns: %s", error, exc_info=error)
