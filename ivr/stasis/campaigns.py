"""App-run campaigns over ARI: the distribution engine's commands carried out, the world's
events fed back to it.

Who is offered what, when, is the pure engine's (``ivr.core.distribution``). This adapter claims
agents in the database (app nodes sharing agents), rings an agent's phone with the caller's
channel as originator, bridges the two, asks the dynamic team service and the store of
customers' own agents, keeps the spares' daily counts in the database (``spares.Spares``), and
tells each caller's session what happened to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.agents import State
from ivr.core.callback_accept import CallbackAcceptance
from ivr.core.commands import ExitKind, RegisterCallback, WaitingCall
from ivr.core.distribution import commands as cmd
from ivr.core.distribution import events as evt
from ivr.core.distribution.engine import Distribution
from ivr.core.events import CallbackRegistered, Event, QueuePosition
from ivr.core.waiting import Waiting
from ivr.crm.team import ask_team
from ivr.sms.gateway import SmsGateway
from ivr.stasis.backend_calls import BackendCallsRun
from ivr.stasis.callbacks import Callbacks
from ivr.stasis.phones import Phones
from ivr.stasis.pulls import Pulls
from ivr.stasis.session import RecordSink, no_record
from ivr.stasis.spares import Spares
from ivr.store.callbacks import CallbackStore
from ivr.store.claims import Claims, Place
from ivr.store.own_agents import OwnAgents
from ivr.store.pulls import PullStore
from ivr.store.spare_calls import SpareCalls

log = logging.getLogger("ivr.campaigns")

AGENT_LEG = "agent"
"""First Stasis argument of an agent's leg: ``agent,<caller channel>,<agent>``."""


class Campaigns:
    def __init__(self, rest: AriRest, app: str, engine: Distribution, post: Callable[[str, Event], None],
                 claims: Claims, own_agents: OwnAgents, http: aiohttp.ClientSession,
                 callback_store: CallbackStore | None = None, on_record: RecordSink = no_record,
                 pull_store: PullStore | None = None, sms: SmsGateway | None = None,
                 backends: BackendCallsRun | None = None, spare_store: SpareCalls | None = None) -> None:
        self.rest = rest
        self.app = app
        self.engine = engine
        self.post = post
        self.claims = claims
        self.own_agents = own_agents
        self.http = http
        self.phones = Phones(rest, app, engine, self.feed)
        self.callbacks = None if callback_store is None else Callbacks(
            callback_store, rest, app, engine, self.feed, self.spawn, on_record)
        self.pulls = None if pull_store is None else Pulls(pull_store, sms, engine, self.feed, self.spawn)
        self.backends = backends
        self.spares = None if spare_store is None else Spares(spare_store, engine, self.feed, self.spawn)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.line_listeners: list[Callable[[cmd.LineEvent], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._rings: dict[str, asyncio.Task[None]] = {}
        self._places: dict[str, Place] = {}
        """This node's callers in the shared line, by call id."""
        self._events: deque[evt.DistributionEvent] = deque()
        self._draining = False
        self._feeding = False
        self._change_told = False
        engine.board.listeners.append(self._agent_changed)

    def feed(self, event: evt.DistributionEvent) -> None:
        """Events are handled one at a time, in order: one fed while the commands of another are
        being carried out waits for them."""
        self._events.append(event)
        if self._draining:
            return
        self._draining = True
        try:
            while self._events:
                self._feeding = True
                try:
                    commands = self.engine.handle(self._events.popleft())
                finally:
                    self._feeding = False
                for command in commands:
                    self._carry_out(command)
        finally:
            self._draining = False

    def _agent_changed(self, agent: str) -> None:
        """A change from outside the engine (the API, another node): one rematch soon after,
        however many agents changed at once."""
        _log_auto_pause(agent, *self.engine.board.presence(agent))
        if not self._feeding and not self._change_told:
            self._change_told = True
            asyncio.get_running_loop().call_soon(self._tell_change)

    def _tell_change(self) -> None:
        self._change_told = False
        self.feed(evt.AgentsChanged())

    # -- what the callers' sessions ask (ivr.stasis.session.Queues)

    def join(self, call_id: str, campaign: str, priority: int, call: WaitingCall,
             waited: float = 0.0) -> None:
        self.feed(evt.CallerJoined(call_id, campaign, priority, call, waited))

    def leave(self, call_id: str, why: str = "", how: ExitKind = "sent", key: str = "") -> None:
        """``why``: the flow took the caller out (``how``); none: the caller hung up."""
        self.feed(evt.CallerLeft(call_id, why, False, how, key) if why else evt.CallerLeft(call_id))

    def connect(self, call_id: str) -> None:
        self.feed(evt.CallerReady(call_id))

    def position(self, call_id: str) -> QueuePosition | None:
        return self.engine.position(call_id)

    async def register_callback(self, command: RegisterCallback) -> CallbackRegistered:
        if self.callbacks is None:
            return CallbackRegistered(failed="this app stores no callbacks")
        return await self.callbacks.register(command)

    def remember(self, customer_id: str, agent: str) -> None:
        """The caller's answer after the call: keep this agent for them, or (empty) none."""
        self.spawn(self._remember(customer_id, agent))

    # -- what the app and the API ask

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.engine.offers or channel_id in self.engine.legs

    def offer_ids(self) -> set[str]:
        """The agents' and the callbacks' customers' legs this node made."""
        return set(self.engine.offers) | set(self.engine.legs)

    def acceptance(self, channel_id: str, args: list[str]) -> CallbackAcceptance | None:
        return None if self.callbacks is None else self.callbacks.acceptance(channel_id, args)

    def is_talking(self, call_id: str) -> bool:
        return self.engine.is_talking(call_id)

    def is_waiting(self, call_id: str) -> bool:
        return self.engine.is_waiting(call_id)

    async def serve_callbacks(self) -> None:
        """Until cancelled: due callbacks into the lines, attempts of an earlier run closed."""
        if self.callbacks is not None:
            await self.callbacks.run()

    async def serve_pulls(self) -> None:
        """Until cancelled: claims won on this node's pulled calls carried out."""
        if self.pulls is not None:
            await self.pulls.run()

    async def serve_backends(self) -> None:
        """Until cancelled: call events delivered to the backends' webhooks."""
        if self.backends is not None:
            await self.backends.run()

    async def serve_spare_counts(self) -> None:
        """Until cancelled: the spares' daily counts of all nodes read from the store."""
        if self.spares is not None:
            await self.spares.run()

    def pulled(self) -> None:
        """A claim on a pulled call of this node won just now."""
        if self.pulls is not None:
            self.pulls.poke()

    def agents_changed(self) -> None:
        """After a reload: the phones of new agents are watched too."""
        self.spawn(self.phones.watch())

    def stop(self) -> None:
        self.feed(evt.Stopping())

    def waiting_lines(self) -> Mapping[str, list[Waiting]]:
        return self.engine.waiting_lines()

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self.listeners.append(listener)

    def count(self, counter: Callable[[cmd.LineEvent], None]) -> None:
        self.line_listeners.append(counter)

    def on_event(self, event: dict[str, Any], channel_id: str) -> None:
        """An event of an agent's leg, or of a callback's customer's leg that has no session
        (it was not answered)."""
        kind = event.get("type")
        ended = kind in ("ChannelDestroyed", "StasisEnd")
        if channel_id in self.engine.legs:
            if kind == "StasisStart":
                # Answered, but its callback node is gone from the flow: nothing to ask them.
                log.error("callback leg %s: no callback node to accept it with; hanging up", channel_id)
                self.spawn(self._hang_up(channel_id))
            elif ended and self.callbacks is not None:
                self.callbacks.leg_ended(channel_id, str(event.get("cause_txt") or kind))
        elif kind == "StasisStart":
            self.feed(evt.OfferAnswered(channel_id))
        elif ended:
            self.feed(evt.OfferEnded(channel_id, str(event.get("cause_txt") or kind)))
        elif kind == "PlaybackFinished" and self.callbacks is not None:
            self.callbacks.briefed(str((event.get("playback") or {}).get("id", "")))

    # -- the engine's commands

    def _carry_out(self, command: cmd.DistributionCommand) -> None:
        if self.callbacks is not None and self.callbacks.carry_out(command):
            return
        if self.pulls is not None and self.pulls.carry_out(command):
            return
        if self.backends is not None and self.backends.carry_out(command):
            return
        if self.spares is not None and self.spares.carry_out(command):
            return
        match command:
            case cmd.TellCaller(call_id=call_id, event=event):
                self.post(call_id, event)
            case cmd.ClaimAgent(offer_id=offer_id, agent=agent) if not self.claims.shared:
                # No other node: granted in this turn, so a call alone is rung with no task between.
                self.feed(evt.ClaimGranted(offer_id))
            case cmd.ClaimAgent(offer_id=offer_id, agent=agent):
                self.spawn(self._claim(offer_id, agent))
            case cmd.ReleaseAgent(agent=agent, offer_id=offer_id):
                self.spawn(self._release(agent, offer_id))
            case cmd.RingAgent():
                self._rings[command.offer_id] = self.spawn(self._ring(command))
            case cmd.HangUpAgent(offer_id=offer_id):
                self.spawn(self._hang_up(offer_id))
            case cmd.BridgeCall():
                self.spawn(self._bridge(command))
            case cmd.EndBridge(bridge_id=bridge_id):
                self.spawn(self._ignoring_gone(self.rest.destroy_bridge(bridge_id)))
            case cmd.NotifyAgent(data=data):
                for listener in self.listeners:
                    listener(dict(data))
            case cmd.LineEvent():
                self._shared_line(command)
                for counter in self.line_listeners:
                    counter(command)
            case cmd.AskTeam():
                self.spawn(self._ask_team(command))
            case cmd.RecallOwnAgent(call_id=call_id, customer_id=customer_id):
                self.spawn(self._recall_own_agent(call_id, customer_id))
            case cmd.Wake(key=key, seconds=seconds):
                asyncio.get_running_loop().call_later(seconds, self.feed, evt.Woke(key))
            case cmd.Log(message=message, level=level):
                log.log(level, "%s", message)

    def _shared_line(self, event: cmd.LineEvent) -> None:
        """This node's callers in the line all nodes share (ivr.store.claims): a caller of a
        campaign offered by its strategy joins it, and leaves it when answered or gone."""
        if not self.claims.shared:
            return
        if event.kind == "entered":
            item = self.engine.items.get(event.call_id)
            if item is None or item.node.pull or item.backend or item.node.team_url:
                return
            joined = datetime.now(UTC) - timedelta(seconds=event.waited)
            place = Place(event.campaign, item.waiting.priority, joined)
            self._places[event.call_id] = place
            self.spawn(self._in_line(self.claims.joined(event.call_id, place)))
        elif event.kind in ("answered", "abandoned", "left") and event.call_id in self._places:
            del self._places[event.call_id]
            self.spawn(self._in_line(self.claims.left(event.call_id)))

    async def _in_line(self, change: Coroutine[Any, Any, None]) -> None:
        try:
            await change
        except (SQLAlchemyError, OSError) as exc:
            log.error("the shared line not updated (%s); other nodes order their callers without it", exc)

    async def _claim(self, offer_id: str, agent: str) -> None:
        """Whether no other app node holds the agent, nor has a caller ahead of this one. A
        database that cannot tell is logged and the local view decides: better a rare double
        offer than callers nobody serves."""
        offer = self.engine.offers.get(offer_id)
        place = self._places.get(offer.work_id) if offer is not None else None
        try:
            won = await self.claims.claim(agent, offer_id, place)
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent %s: claim not stored (%s); offering on this node's view alone", agent, exc)
            won = True
        self.feed(evt.ClaimGranted(offer_id) if won else evt.ClaimRefused(offer_id))

    async def _release(self, agent: str, offer_id: str) -> None:
        try:
            await self.claims.release(agent, offer_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("agent %s: claim not released (%s); it expires by itself", agent, exc)

    async def _ring(self, ring: cmd.RingAgent) -> None:
        try:
            await self.rest.call_into_app(ring.endpoint, self.app, f"{AGENT_LEG},{ring.call_id},{ring.agent}",
                                       ring.offer_id, ring.originator, ring.caller_id, ring.seconds,
                                       dict(ring.variables))
        except (AriError, OSError) as exc:
            log.warning("call %s: cannot ring agent %s: %s", ring.call_id, ring.agent, exc)
            self.feed(evt.RingFailed(ring.offer_id, str(exc)))
        finally:
            self._rings.pop(ring.offer_id, None)

    async def _hang_up(self, offer_id: str) -> None:
        """After the request that rings it, if that is still on its way: a hang-up that reached
        Asterisk first would leave the phone ringing for nobody."""
        if (ringing := self._rings.get(offer_id)) is not None:
            await asyncio.wait({ringing})
        await self._ignoring_gone(self.rest.hangup(offer_id))

    async def _bridge(self, bridge: cmd.BridgeCall) -> None:
        try:
            await self.rest.create_bridge(bridge.bridge_id)
            await self.rest.add_to_bridge(bridge.bridge_id, [bridge.call_id, bridge.offer_id])
        except (AriError, OSError) as exc:
            self.feed(evt.BridgeFailed(bridge.offer_id, bridge.bridge_id, str(exc)))
            return
        self.feed(evt.Bridged(bridge.offer_id, bridge.bridge_id))

    async def _ask_team(self, ask: cmd.AskTeam) -> None:
        try:
            answer = await ask_team(self.http, ask.url, ask.deadline, dict(ask.data),
                                    self.engine.flow().agent_names)
        except Exception as exc:
            # Whatever the service sent, the caller is offered by the campaign's strategy.
            log.exception("call %s: dynamic team: the answer could not be read", ask.call_id)
            self.feed(evt.TeamAnswered(ask.call_id, None, f"unreadable answer: {type(exc).__name__}"))
            return
        self.feed(evt.TeamAnswered(ask.call_id, answer.agents, answer.reason))

    async def _recall_own_agent(self, call_id: str, customer_id: str) -> None:
        try:
            self.feed(evt.OwnAgentRecalled(call_id, await self.own_agents.of(customer_id)))
        except (SQLAlchemyError, OSError) as exc:
            self.feed(evt.OwnAgentRecalled(call_id, "", str(exc)))

    async def _remember(self, customer_id: str, agent: str) -> None:
        try:
            if agent:
                await self.own_agents.keep(customer_id, agent)
            else:
                await self.own_agents.forget(customer_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("customer %s: own agent not stored: %s", customer_id, exc)

    @staticmethod
    async def _ignoring_gone(request: Coroutine[Any, Any, None]) -> None:
        try:
            await request
        except (NotFound, AriError, OSError):
            pass

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Not awaited: its outcome comes back to the engine as an event, or is logged."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("campaigns: %s", error, exc_info=error)


def _log_auto_pause(agent: str, state: State, reason: str) -> None:
    """The board pauses an agent who let too many offers go by itself; the admin reads why here."""
    if state is State.PAUSED and reason.startswith("auto:"):
        log.info("agent %s: paused automatically: %s", agent, reason.removeprefix("auto:").strip())
