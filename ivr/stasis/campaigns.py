"""App-run campaigns: callers waiting in line, offers to agents, bridges.

The order of offers is the pure core's (``ivr.core.offer_order``); this adapter carries it out
over ARI: a claim on the agent in the database (app nodes sharing agents), a leg to the agent's
phone with the caller's channel as originator, a mixing bridge when the agent answers, and each
side's hang-up ending the other.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.agents import AgentBoard, State
from ivr.core.commands import WaitingCall
from ivr.core.destinations import Destination
from ivr.core.events import (
    AgentAnswered,
    AgentConnected,
    AgentHungUp,
    CampaignNote,
    Event,
    OwnAgentBusy,
    QueuePosition,
)
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.core.offer_order import Order, Spares, offer_order
from ivr.core.waiting import WaitingLine
from ivr.crm.team import ask_team
from ivr.stasis.callers import Caller, Offer
from ivr.store.claims import Claims
from ivr.store.own_agents import OwnAgents

log = logging.getLogger("ivr.campaigns")

RETRY_SECONDS = 2.0
WAITS_KEPT = 20
HOLDING = frozenset({State.RINGING, State.ON_CALL, State.WRAP_UP})
"""The states in which this node holds its claim on the agent."""
SUBSCRIBE_BATCH = 50
"""Phones subscribed to per request, within Asterisk's limit on a request line."""
AGENT_LEG = "agent"
"""First Stasis argument of an agent's leg: ``agent,<caller channel>,<agent>``."""


class Campaigns:
    def __init__(self, rest: AriRest, app: str, board: AgentBoard, flow: Callable[[], Flow],
                 post: Callable[[str, Event], None], stop_prompt: Callable[[str], Awaitable[None]],
                 clock: Callable[[], float], claims: Claims,
                 own_agents: OwnAgents, http: aiohttp.ClientSession | None = None,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.rest = rest
        self.app = app
        self.board = board
        self.flow = flow
        self.post = post
        self.stop_prompt = stop_prompt
        self.clock = clock
        self.claims = claims
        self.own_agents = own_agents
        self.http = http
        self.wall = wall
        self.claimed: dict[str, str] = {}
        """Agent -> the offer this node holds the agent's claim for."""
        board.listeners.append(self._agent_changed)
        self.spare_calls: dict[tuple[str, date], int] = {}
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
        self.phones_known = False
        """Whether the agents' phones are watched (see watch_phones)."""

    def join(self, call_id: str, campaign: str, priority: int,
             call: WaitingCall, waited: float = 0.0) -> None:
        node = self.flow().nodes.get(Destination("campaign", campaign))
        if not isinstance(node, Campaign) or call_id in self.callers:
            return
        line = self.lines.setdefault(campaign, WaitingLine())
        waiting = line.join(call_id, priority, self.clock() - waited)
        caller = Caller(call_id, campaign, node, waiting, call)
        self.callers[call_id] = caller
        log.info("call %s: waiting in campaign %s (priority %d, position %s)", call_id, campaign,
                 priority, self.lines[campaign].position(call_id))
        if node.team_url and self.http is not None:
            caller.asking.add("team")
            self._spawn(self._ask_team(caller, self.http))
        if node.remember_agent and call.customer_id and not caller.crm_agent():
            caller.asking.add("own agent")
            self._spawn(self._recall_own_agent(caller))
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
                       and not c.offers and c.agent_leg is None and not c.asking]
            if callers and not self.phones_known:
                await self.watch_phones()
            for caller in callers:
                await self._offer_next(caller)

    async def _ask_team(self, caller: Caller, http: aiohttp.ClientSession) -> None:
        answer = await ask_team(http, caller.node.team_url, caller.node.team_deadline, caller.call_data(),
                                self.flow().agent_names)
        caller.asking.discard("team")
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

    async def _recall_own_agent(self, caller: Caller) -> None:
        try:
            caller.stored_agent = await self.own_agents.of(caller.call.customer_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("call %s: the customer's own agent not read (%s); any agent serves",
                      caller.call_id, exc)
        caller.asking.discard("own agent")
        if caller.stored_agent:
            self.post(caller.call_id, CampaignNote(f"own agent {caller.stored_agent} (stored)"))
        await self.match()

    def remember(self, customer_id: str, agent: str) -> None:
        """The caller's answer after the call: keep this agent for them, or (empty) none."""
        self._spawn(self._remember(customer_id, agent))

    async def _remember(self, customer_id: str, agent: str) -> None:
        try:
            if agent:
                await self.own_agents.keep(customer_id, agent)
            else:
                await self.own_agents.forget(customer_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("customer %s: own agent not stored: %s", customer_id, exc)

    def _order(self, caller: Caller) -> Order:
        node, flow, now = caller.node, self.flow(), self.wall()
        in_hours = not node.overflow_hours or flow.within(node.overflow_hours, node.overflow_timezone, now)
        today = self._spare_day(node, flow, now)
        spares = Spares(self.clock() - caller.waiting.joined_at, in_hours,
                        {a: n for (a, day), n in self.spare_calls.items() if day == today})
        return offer_order(node, self.board, frozenset(caller.waiting.skipped),
                           caller.preferred(flow.agent_names), caller.team, spares)

    @staticmethod
    def _spare_day(node: Campaign, flow: Flow, now: datetime) -> date:
        """The day a spare's daily limit counts in: the campaign's ``overflow_timezone``."""
        zone = flow.zones.get(node.overflow_timezone) if node.overflow_daily_limit else None
        return now.astimezone(zone).date() if zone is not None else now.date()

    async def _offer_next(self, caller: Caller) -> None:
        """The next agent in order who is free after all; with ring-all, every one of them,
        all held first and then rung together, so that the first answer cannot cut the round."""
        found = self._order(caller)
        if found.own_agent_busy:
            caller.waiting.skipped.add(found.own_agent_busy)
            self.post(caller.call_id, OwnAgentBusy(found.own_agent_busy))
        order = found.agents
        if caller.node.strategy == "ring-all" and caller.team is None:
            held = await asyncio.gather(*(self._hold(caller, agent) for agent in order))
            await asyncio.gather(*(self._ring(caller, offer) for offer in held if offer is not None))
            return
        for agent in order:
            if (offer := await self._hold(caller, agent)) is not None:
                await self._ring(caller, offer)
                return

    def _own_phones(self) -> list[str]:
        return [name for name, agent in self.flow().agents.items()
                if not agent.trunk and name in self.board.agents]

    async def watch_phones(self) -> None:
        """Asterisk tells the app of every change of the agents' phones (registered or not, in
        a call or not: EndpointStateChange), so a match asks it nothing. Subscribed, and their
        state read once, on every connect (events missed while the socket was down are not
        replayed) and after a reload brings agents; until that succeeds, each match tries again.
        A list of every phone at each match was a fifth of the app's CPU with 400 agents."""
        self.phones_known = True
        own = self._own_phones()
        sources = [f"endpoint:PJSIP/agent-{name}" for name in own]
        try:
            for first in range(0, len(sources), SUBSCRIBE_BATCH):
                await self.rest.subscribe(self.app, sources[first:first + SUBSCRIBE_BATCH])
            endpoints = {e.get("resource"): e for e in await self.rest.endpoints("PJSIP")}
        except (AriError, OSError) as exc:
            log.warning("agents' phones: cannot ask Asterisk (%s); asking again at the next match", exc)
            self.phones_known = False
            return
        for agent in own:
            self._note_phone(agent, endpoints.get(f"agent-{agent}"))
        self._spawn(self.match())

    def agents_changed(self) -> None:
        """After a reload: the phones of new agents are watched too."""
        self._spawn(self.watch_phones())

    def on_phone(self, endpoint: dict[str, Any]) -> None:
        resource = str(endpoint.get("resource", ""))
        agent = resource.removeprefix("agent-")
        if agent == resource or agent not in self.board.agents:
            return
        config = self.flow().agents.get(agent)
        if config is None or config.trunk:
            return
        before = self.board.status(agent)
        self._note_phone(agent, endpoint)
        after = self.board.status(agent)
        if after.reachable and not after.device_busy and (not before.reachable or before.device_busy):
            self._spawn(self.match())

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
        if reachable != status.reachable and not reachable:
            log.info("agent %s: phone offline; not offered now", agent)
        elif busy and not status.device_busy and status.state is State.READY:
            log.info("agent %s: phone busy in a call of its own; not offered now", agent)
        self.board.device(agent, reachable=reachable, busy=busy)

    async def _claim(self, agent: str, token: str) -> bool:
        """Whether no other app node holds the agent. A database that cannot tell is logged
        and the local view decides: better a rare double offer than callers nobody serves."""
        try:
            won = await self.claims.claim(agent, token)
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent %s: claim not stored (%s); offering on this node's view alone", agent, exc)
            return True
        if not won:
            log.info("agent %s: held by another app node; not offered now", agent)
        return won

    async def _release(self, agent: str, token: str) -> None:
        try:
            await self.claims.release(agent, token)
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent %s: claim not released (%s); it expires by itself", agent, exc)

    def _agent_changed(self, agent: str) -> None:
        if self.board.status(agent).state not in HOLDING and (token := self.claimed.pop(agent, None)):
            self._spawn(self._release(agent, token))

    async def _hold(self, caller: Caller, agent: str) -> Offer | None:
        """The agent claimed and ringing for the caller, as far as this node knows; None when
        the agent was not free after all."""
        flow = self.flow()
        if agent not in flow.agents:
            return None
        channel_id = f"{caller.call_id}-agent-{next(self._ids)}"
        if not await self._claim(agent, channel_id):
            return None
        if self.callers.get(caller.call_id) is not caller or caller.agent_leg is not None \
                or not self.board.available(agent):
            self._spawn(self._release(agent, channel_id))
            return None
        self.claimed[agent] = channel_id
        offer = Offer(channel_id, caller.call_id, agent, flow.agent_endpoint(agent))
        self.board.offered(agent)
        self.offers[channel_id] = offer
        caller.offers.add(channel_id)
        log.info("call %s: offered to agent %s (%s)", caller.call_id, agent, caller.node.strategy)
        self._publish({"type": "offer", "agent": agent, **caller.call_data()})
        return offer

    async def _ring(self, caller: Caller, offer: Offer) -> None:
        agent, channel_id = offer.agent, offer.channel_id
        try:
            await self.rest.call_agent(offer.endpoint, self.app,
                                       f"{AGENT_LEG},{caller.call_id},{agent}", channel_id,
                                       caller.call_id, f"{caller.campaign} <{caller.call_data()['caller']}>",
                                       max(1, round(caller.node.ring_timeout)),
                                       dict(caller.call.agent_variables(caller.campaign)))
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
            day = (offer.agent, self._spare_day(caller.node, self.flow(), self.wall()))
            self.spare_calls[day] = self.spare_calls.get(day, 0) + 1
            self.post(caller.call_id, CampaignNote(f"overflow: answered by spare {offer.agent}"))
        self.waits.setdefault(caller.campaign, deque(maxlen=WAITS_KEPT)).append(
            self.clock() - caller.waiting.joined_at)
        caller.offers.discard(offer.channel_id)
        caller.agent_leg = offer
        self.board.answered(offer.agent)
        for other in list(caller.offers):
            self._withdraw(self.offers[other])
        self.post(caller.call_id, AgentAnswered(offer.agent))
        await self.stop_prompt(caller.call_id)
        bridge = f"{caller.call_id}-bridge"
        caller.bridge = bridge
        try:
            await self.rest.create_bridge(bridge)
            await self.rest.add_to_bridge(bridge, [caller.call_id, offer.channel_id])
        except (AriError, OSError) as exc:
            log.warning("call %s: could not bridge agent %s: %s", caller.call_id, offer.agent, exc)
            if self.callers.get(caller.call_id) is caller and caller.agent_leg is offer:
                self._end_talk(caller, offer, hang_up_agent=True)
                self._back_in_line(caller, offer)
            self._spawn(self._destroy(bridge))
            return
        if caller.agent_leg is not offer:
            # The agent's leg ended while the bridge was made: the caller is back in line.
            self._spawn(self._destroy(bridge))
            return
        offer.bridged = True
        log.info("call %s: bridged with agent %s", caller.call_id, offer.agent)
        self.post(caller.call_id, AgentConnected(offer.agent))

    def _back_in_line(self, caller: Caller, offer: Offer) -> None:
        """The agent was lost between answering and the bridge: the caller waits again, in the
        place it had, and the flow is told (``AgentHungUp`` before ``AgentConnected``)."""
        log.info("call %s: agent %s lost before the bridge; waiting again", caller.call_id, offer.agent)
        self.lines[caller.campaign].rejoin(caller.waiting)
        self.post(caller.call_id, AgentHungUp(offer.agent))
        self._spawn(self.match())

    def _gone(self, offer: Offer, why: str) -> None:
        if self.offers.pop(offer.channel_id, None) is None:
            return
        caller = self.callers.get(offer.call_id)
        if offer.answered:
            if caller is not None and caller.agent_leg is offer and offer.bridged:
                # The flow first, the bridge's end after: a prompt sent to a caller on its way
                # out of the bridge was once lost, and the caller's keys with it.
                self.post(caller.call_id, AgentHungUp(offer.agent))
                self._end_talk(caller, offer, hang_up_agent=False)
            elif caller is not None and caller.agent_leg is offer:
                self._end_talk(caller, offer, hang_up_agent=False)
                self._back_in_line(caller, offer)
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
        return not self._order(caller).agents

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
