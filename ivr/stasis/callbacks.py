"""Callbacks over the store and ARI: requests stored for the call flow, due callbacks fed to the
distribution engine, and the engine's callback commands carried out.

Every node polls the store: a callback registered on any node, or due again after a failed
attempt, joins the line of each node that runs its campaign, and the node whose agent is free
first holds it (``CallbackStore.hold``). An attempt is counted in the store before the customer
is dialled, on a leg whose channel id names the callback and the attempt; a node that finds, at
start, attempts it was dialling when it died hangs those legs up and counts them failed, so
no attempt is ever dialled twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ivr.ari.rest import AriError, AriRest, NotFound
from ivr.core.callback_accept import Acceptance, CallbackAcceptance
from ivr.core.callbacks import Callback, Refusal
from ivr.core.commands import RegisterCallback
from ivr.core.destinations import Destination
from ivr.core.distribution import commands as cmd
from ivr.core.distribution import events as evt
from ivr.core.distribution.calling_back import callback_item
from ivr.core.distribution.engine import Distribution
from ivr.core.distribution.engine_state import WAITING_STATES
from ivr.core.events import CallbackRegistered
from ivr.core.facts import CallFacts
from ivr.core.nodes import CallbackRequest
from ivr.stasis.session import RecordSink
from ivr.store.call_log import record_of
from ivr.store.callbacks import CallbackStore

log = logging.getLogger("ivr.callbacks")

POLL_SECONDS = 2.0
HOUSEKEEPING_POLLS = 15
CUSTOMER_LEG = "callback"
"""First Stasis argument of a callback's customer leg: ``callback,<callback id>,<attempt>``."""


class Callbacks:
    def __init__(self, store: CallbackStore, rest: AriRest, app: str, engine: Distribution,
                 feed: Callable[[evt.DistributionEvent], None],
                 spawn: Callable[[Coroutine[Any, Any, None]], object], on_record: RecordSink) -> None:
        self.store = store
        self.rest = rest
        self.app = app
        self.engine = engine
        self.feed = feed
        self.spawn = spawn
        self.on_record = on_record
        self._dialled: dict[str, tuple[datetime, cmd.DialCustomer]] = {}
        """Customers' legs not (yet) answered: their record is written here when they end."""
        self.known: dict[str, Callback] = {}
        """Callbacks fed to the engine, by id."""
        self._poll_now = asyncio.Event()
        self._polls = 0
        self._lost: set[str] = set()
        """Callbacks whose node is gone from the flow, already logged."""
        self._briefings: dict[str, str] = {}
        """Briefing playback -> the offer whose agent hears it."""

    async def register(self, command: RegisterCallback) -> CallbackRegistered:
        try:
            stored = await self.store.register(command.request, command.policy, command.limits)
        except (SQLAlchemyError, OSError, ValueError) as exc:
            log.error("callback for %s not stored: %s", command.request.number, exc)
            return CallbackRegistered(failed=f"not stored: {exc}"[:200])
        if isinstance(stored, Refusal):
            return CallbackRegistered(refused=stored.message)
        log.info("callback %s: registered for %s in campaign %s", stored.id, stored.request.number,
                 stored.request.campaign)
        self._poll_now.set()
        return CallbackRegistered(stored.id)

    def _node(self, callback: Callback) -> CallbackRequest | None:
        node = self.engine.flow().nodes.get(Destination("callback", callback.request.via))
        return node if isinstance(node, CallbackRequest) else None

    def acceptance(self, channel_id: str, args: list[str]) -> CallbackAcceptance | None:
        """The customer's side of a leg this node dialled (``callback,<id>,<attempt>``)."""
        callback = self.known.get(args[1]) if len(args) == 3 and args[2].isdigit() else None
        node = self._node(callback) if callback is not None else None
        if callback is None or node is None:
            return None
        rules = Acceptance(node.accept_prompt, node.accept_key, node.accept_timeout, node.accept_repeats)
        self._dialled.pop(channel_id, None)
        return CallbackAcceptance(channel_id, callback.id, int(args[2]), rules)

    # -- the poll

    async def run(self) -> None:
        await self.recover()
        while True:
            try:
                await self.poll()
            except (SQLAlchemyError, OSError) as exc:
                log.error("callbacks: the store did not answer (%s); trying again", exc)
            try:
                async with asyncio.timeout(POLL_SECONDS):
                    await self._poll_now.wait()
            except TimeoutError:
                pass
            self._poll_now.clear()

    async def poll(self) -> None:
        """Every poll reads what is due; every 15th (30 s, a lease) also ends expired callbacks
        and attempts of dead nodes; a node renews its leases only while it holds callbacks, so
        an idle node writes nothing (on SQLite each write locks the whole database)."""
        self._polls += 1
        if self._polls % HOUSEKEEPING_POLLS == 1:
            for expired in await self.store.expire():
                log.info("callback %s: expired", expired.id)
            for abandoned in await self.store.abandoned_attempts():
                log.warning("callback %s: %s; now %s", abandoned.id, abandoned.reason, abandoned.state.value)
        if any(item.held or item.attempt for item in self.engine.items.values() if item.callback is not None):
            await self.store.renew()
        now = self.engine.wall()
        due = [c for c in await self.store.open_in() if c.due(now) and self._ours(c)]
        startable = {c.id: (c, node) for c in due if (node := self._node_to_start(c)) is not None}
        for callback, node in startable.values():
            if callback_item(callback.id) not in self.engine.items:
                self._queue(callback, node)
        for callback_id in [i for i in self.known if i not in startable]:
            item = self.engine.items.get(callback_item(callback_id))
            if item is None or item.state in WAITING_STATES:
                del self.known[callback_id]
                self.feed(evt.CallbackDropped(callback_id))

    def _ours(self, callback: Callback) -> bool:
        """Not held by another node (or its hold ran out: that node is gone)."""
        return (not callback.node or callback.node == self.store.node
                or (callback.held_until is not None and callback.held_until < self.engine.wall()))

    def _node_to_start(self, callback: Callback) -> CallbackRequest | None:
        """Its callback node, when it may start now (within its hours)."""
        node = self._node(callback)
        if node is None or node.trunk not in self.engine.flow().trunks:
            if callback.id not in self._lost:
                self._lost.add(callback.id)
                log.error("callback %s: its node callback:%s or that node's trunk is gone from the flow; "
                          "it waits until it expires", callback.id, callback.request.via)
            return None
        return node if self._in_hours(node) else None

    def _queue(self, callback: Callback, node: CallbackRequest) -> None:
        trunk = self.engine.flow().trunks[node.trunk]
        briefing = node.agent_prompt + ((f"recording:{callback.request.message}",)
                                        if callback.request.message else ())
        self.known[callback.id] = callback
        self.feed(evt.CallbackQueued(callback, trunk.dial.replace("{number}", callback.request.number),
                                     briefing, node.dial_timeout))

    def _in_hours(self, node: CallbackRequest) -> bool:
        """Within the node's hours, and not in their last ``stop_before_close`` minutes (a
        callback then might run past closing time)."""
        if not node.hours:
            return True
        flow, now = self.engine.flow(), self.engine.wall()
        last = now + timedelta(minutes=node.stop_before_close)
        return flow.within(node.hours, node.timezone, now) and flow.within(node.hours, node.timezone, last)

    async def recover(self) -> None:
        """Attempts this node was dialling when it stopped: their legs (the customer's, and the
        agent's waiting for it) hung up, the attempt counted failed."""
        try:
            dialing = await self.store.dialing_of_this_node()
            channels = [str(c.get("id", "")) for c in await self.rest.channels()] if dialing else []
        except (SQLAlchemyError, OSError, AriError) as exc:
            log.error("callbacks: attempts of an earlier run not checked (%s)", exc)
            return
        for callback in dialing:
            for leg in [c for c in channels if c.startswith(f"{callback_item(callback.id)}-")]:
                await self._hang_up(leg)
            await self.store.finish_attempt(callback.id, callback.attempts, False,
                                            "the app restarted during the attempt")
            log.warning("callback %s: attempt %d was in progress when the app stopped; counted failed",
                        callback.id, callback.attempts)

    # -- the engine's commands

    def carry_out(self, command: cmd.DistributionCommand) -> bool:
        """Whether it was a callback command (and is now under way)."""
        match command:
            case cmd.HoldCallback(callback_id=callback_id):
                self.spawn(self._hold(callback_id))
            case cmd.LetGoCallback(callback_id=callback_id):
                self.spawn(self._let_go(callback_id))
            case cmd.BriefAgent(offer_id=offer_id, media=media):
                self._briefings[f"{offer_id}-brief"] = offer_id
                self.spawn(self._brief(offer_id, media))
            case cmd.StartAttempt(callback_id=callback_id):
                self.spawn(self._start(callback_id))
            case cmd.DialCustomer():
                self.spawn(self._dial(command))
            case cmd.HangUpCustomer(channel_id=channel_id):
                self.spawn(self._hang_up(channel_id))
            case cmd.FinishAttempt():
                self.spawn(self._finish(command))
            case _:
                return False
        return True

    def leg_ended(self, channel_id: str, reason: str) -> None:
        """A customer's leg that no session answered is over: its record, then the engine."""
        if (dialled := self._dialled.pop(channel_id, None)) is not None:
            started, dial = dialled
            facts = CallFacts(nodes=[f"callback:{dial.callback_id}"],
                              notes=[f"callback {dial.callback_id}: attempt {dial.attempt}"])
            self.on_record(record_of(facts, channel_id=channel_id, caller=dial.number, did="",
                                     flow="callback", started_at=started, answered_at=None,
                                     outcome=f"callback attempt not answered ({reason})"[:200],
                                     hangup_cause=reason[:120]))
        self.feed(evt.CustomerLegEnded(channel_id, reason))

    def briefed(self, playback_id: str) -> None:
        if (offer_id := self._briefings.pop(playback_id, None)) is not None:
            self.feed(evt.AgentBriefed(offer_id))

    async def _hold(self, callback_id: str) -> None:
        try:
            held = await self.store.hold(callback_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("callback %s: not held (%s)", callback_id, exc)
            held = False
        self.feed(evt.CallbackHeld(callback_id, held))

    async def _let_go(self, callback_id: str) -> None:
        try:
            await self.store.let_go(callback_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("callback %s: hold not released (%s); it runs out by itself", callback_id, exc)

    async def _brief(self, offer_id: str, media: tuple[str, ...]) -> None:
        try:
            await self.rest.play(offer_id, f"{offer_id}-brief", media)
        except (AriError, OSError) as exc:
            log.warning("agent leg %s: briefing not played (%s); dialling at once", offer_id, exc)
            self.briefed(f"{offer_id}-brief")

    async def _start(self, callback_id: str) -> None:
        try:
            attempt = await self.store.start_attempt(callback_id)
        except (SQLAlchemyError, OSError) as exc:
            log.error("callback %s: attempt not counted (%s); not dialled", callback_id, exc)
            attempt = None
        self.feed(evt.AttemptStarted(callback_id, attempt))

    async def _dial(self, dial: cmd.DialCustomer) -> None:
        self._dialled[dial.channel_id] = (datetime.now(UTC), dial)
        try:
            args = f"{CUSTOMER_LEG},{dial.callback_id},{dial.attempt}"
            await self.rest.call_into_app(dial.endpoint, self.app, args, dial.channel_id, dial.originator,
                                       dial.caller_id, dial.seconds, {"IVR_CALLBACK": dial.callback_id})
        except (AriError, OSError) as exc:
            self.leg_ended(dial.channel_id, f"not dialled: {exc}")

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self.rest.hangup(channel_id)
        except (NotFound, AriError, OSError):
            pass

    async def _finish(self, finish: cmd.FinishAttempt) -> None:
        try:
            done = await self.store.finish_attempt(finish.callback_id, finish.attempt, finish.completed,
                                                   finish.reason)
        except (SQLAlchemyError, OSError, LookupError) as exc:
            log.error("callback %s: attempt %d's end not stored (%s)", finish.callback_id, finish.attempt,
                      exc)
            return
        self.known.pop(finish.callback_id, None)
        log.info("callback %s: attempt %d %s; now %s", done.id, finish.attempt,
                 "completed" if finish.completed else f"failed ({finish.reason})", done.state.value)
        self._poll_now.set()
