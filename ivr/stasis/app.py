"""The Stasis application: routes ARI events to call sessions, and takes calls back after every
(re)connect, since Asterisk does not replay the events sent while the socket was down."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ivr import logs
from ivr.ari.rest import LEG_APP, AriError, AriRest, NotFound
from ivr.core.admission import Refusal
from ivr.core.events import Event, HungUp, Resumed
from ivr.stasis.callbacks import CUSTOMER_LEG
from ivr.stasis.campaigns import AGENT_LEG, Campaigns
from ivr.stasis.session import FALLBACK, CallHandler, CallSession, Crm, RecordSink
from ivr.stasis.translate import call_started, channel_of, stasis_args, translate
from ivr.store.call_log import CallRecord
from ivr.store.open_calls import OpenCall

log = logging.getLogger("ivr.app")

FlowFactory = Callable[[str], CallHandler]
REQUEUE = ("ivr-requeue", "s", 1)
EVENTS = ("StasisStart", "StasisEnd", "ChannelDtmfReceived", "PlaybackFinished", "ChannelHangupRequest",
          "ChannelDestroyed", "EndpointStateChange", "ApplicationReplaced", "RecordingFinished",
          "RecordingFailed", "ChannelUserevent")
"""The events the app reads; Asterisk is asked to send no other (a user event is the dialplan
gate's probe, read for its delay)."""
AGENT_LEG_ID = re.compile(r"-agent-[0-9]+$")
"""An agent leg's channel id: the offer's, ``<caller's channel>-agent-<n>`` (distribution)."""


class StasisApp:
    def __init__(self, app: str, rest: AriRest, new_flow: FlowFactory,
                 connection: Callable[[], int], flow_name: str, on_record: RecordSink,
                 crm: Crm | None = None, campaigns: Campaigns | None = None,
                 admit: Callable[[int], Refusal | None] = lambda calls: None,
                 on_open: Callable[[OpenCall], None] = lambda call: None) -> None:
        """``admit(calls in progress)``: why a new call is turned away now (ivr.core.admission),
        or None to take it. ``on_open``: a call entered (its record follows when it ends)."""
        self.app = app
        self.on_open = on_open
        self.admit = admit
        self.turned_away: Counter[str] = Counter()
        """Calls turned away, by the limit that turned them away: a metric."""
        self.crm = crm
        self.campaigns = campaigns
        self.flow_name = flow_name
        self.on_record = on_record
        self.rest = rest
        self.new_flow = new_flow
        self.connection = connection
        self.sessions: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        """Set by hand_over: a call entering from now on is handed over too."""

    def on_event(self, event: dict[str, Any]) -> None:
        channel_id = channel_of(event)
        if channel_id is None:
            if event.get("type") == "EndpointStateChange" and self.campaigns is not None:
                self.campaigns.phones.on_endpoint(event.get("endpoint") or {})
            return
        starts = event.get("type") == "StasisStart" and channel_id not in self.sessions
        if self.campaigns is not None and channel_id not in self.sessions:
            args = [str(a) for a in event.get("args") or []]
            if starts and args[:1] == [CUSTOMER_LEG] and (
                    accept := self.campaigns.acceptance(channel_id, args)) is not None:
                self._open(channel_id, event.get("channel") or {}, args, accept, "callback")
            elif self.campaigns.owns(channel_id) or (starts and args[:1] in ([AGENT_LEG], [CUSTOMER_LEG])):
                self.campaigns.on_event(event, channel_id)
                return
        if starts and channel_id not in self.sessions:
            if (refusal := self.admit(len(self.sessions))) is not None:
                self._turn_away(channel_id, event, refusal)
                return
            channel = event.get("channel") or {}
            self._open(channel_id, channel, [str(a) for a in event.get("args") or []],
                       linked_id=str(channel.get("linkedid") or ""))
        session = self.sessions.get(channel_id)
        translated = translate(event)
        if session is not None and translated is not None:
            session.post(translated)

    def _open(self, channel_id: str, channel: dict[str, Any], args: list[str],
              flow: CallHandler | None = None, flow_name: str = "", linked_id: str = "") -> CallSession:
        session = CallSession(channel_id, flow or self.new_flow(channel_id), self.rest, self.connection(),
                              flow_name or self.flow_name, self.on_record, self.crm, self.campaigns)
        self.sessions[channel_id] = session
        started = call_started(channel, args)
        self.on_open(OpenCall(channel_id, started.caller, started.exten, session.flow_name,
                              session.started_at))
        task = asyncio.create_task(self._run(session, linked_id), name=f"call-{channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return session

    def _turn_away(self, channel_id: str, event: dict[str, Any], refusal: Refusal) -> None:
        """Overloaded: the call goes to the dialplan's fallback at once, recorded and counted."""
        self.turned_away[refusal.limit] += 1
        why = refusal.why
        log.warning("call %s: turned away to the dialplan fallback: %s", channel_id, why)
        started = call_started(event.get("channel") or {}, [str(a) for a in event.get("args") or []])
        now = datetime.now(UTC)
        self.on_record(CallRecord(channel_id, started.caller, started.exten, self.flow_name, now, now, "",
                                  f"turned away: {why}; sent to the dialplan fallback"))
        task = asyncio.create_task(self._continue(channel_id, FALLBACK), name=f"turn-away-{channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _continue(self, channel_id: str, where: tuple[str, str, int]) -> None:
        try:
            await self.rest.continue_in_dialplan(channel_id, *where)
        except (AriError, OSError) as exc:
            log.warning("call %s: not sent on: %s", channel_id, exc)

    async def _run(self, session: CallSession, linked_id: str) -> None:
        if linked_id and linked_id != session.channel_id:
            logs.bind(linked_id=linked_id)
        try:
            await session.run()
        except Exception:
            log.exception("call %s: session crashed", session.channel_id)
        finally:
            self.sessions.pop(session.channel_id, None)

    async def reconcile(self) -> None:
        """Called on every connect: end calls that vanished, resume or adopt the live ones."""
        connection = self.connection()
        try:
            await self.rest.filter_events(self.app, EVENTS)
        except (AriError, OSError) as exc:
            log.warning("ARI events: filter not set (%s); every event is read", exc)
        hung_up = await self._hang_up_left_rings()  # before the phones are read: theirs are free then
        if self.campaigns is not None:
            await self.campaigns.phones.watch(hung_up)
        try:
            live = set((await self.rest.application(self.app)).get("channel_ids", []))
        except (AriError, OSError) as exc:
            log.error("reconcile: cannot list the channels of app %s: %s", self.app, exc)
            return
        for channel_id, session in list(self.sessions.items()):
            if channel_id not in live:
                session.post(HungUp("gone while the event connection was down"))
            elif session.epoch < connection:
                session.post(Resumed())
        ours = set(self.sessions) | (self.campaigns.offer_ids() if self.campaigns is not None else set())
        for channel_id in live - ours:
            await self._adopt(channel_id)
        log.info("reconcile: %d live call(s) in app %s", len(live), self.app)

    async def _adopt(self, channel_id: str) -> None:
        """A call left in the app by an earlier process: back to its place in a campaign, or its
        flow again from the top; a conversation with an agent is left to go on."""
        try:
            channel = await self.rest.channel(channel_id)
        except NotFound:
            return
        args = stasis_args(channel)
        if args[:1] in ([AGENT_LEG], [CUSTOMER_LEG]):
            if channel.get("state") != "Up":
                log.info("reconcile: hanging up agent leg %s of an earlier process", channel_id)
                await self.rest.hangup(channel_id)
            return
        if not args:
            return
        if agent := await self._variable(channel_id, "IVR_AGENT"):
            log.info("reconcile: call %s talks with agent %s; left as it is", channel_id, agent)
            return
        log.info("reconcile: taking back call %s (%s)", channel_id, ",".join(args))
        waiting = await self._variable(channel_id, "IVR_WAITING")
        customer = await self._variable(channel_id, "IVR_CUSTOMER_ID")
        self._open(channel_id, channel, args).post(replace(call_started(channel, args, resumed=True),
                                            waiting=waiting, customer_id=customer))

    async def _hang_up_left_rings(self) -> frozenset[str]:
        """Agent legs this app was ringing when its process died: not in the app (a leg enters
        Stasis when answered), they are found among all channels by their id and ``LEG_APP``.
        Left alone, the phone would ring for nobody until its ring timeout, the agent skipped
        as busy meanwhile; hung up, the agent is free at once (their state comes back from the
        store, their claims were released at start). The legs hung up."""
        try:
            channels = await self.rest.channels()
        except (AriError, OSError) as exc:
            log.warning("reconcile: cannot list the channels to find agent legs left ringing: %s", exc)
            return frozenset()
        hung_up = set()
        ours = self.campaigns.offer_ids() if self.campaigns is not None else set()
        for channel in channels:
            channel_id = str(channel.get("id", ""))
            if (channel_id in ours or channel.get("state") == "Up" or not AGENT_LEG_ID.search(channel_id)
                    or await self._variable(channel_id, LEG_APP) != self.app):
                continue
            log.info("reconcile: hanging up agent leg %s of an earlier process (%s)", channel_id,
                     str(channel.get("state", "")).lower())
            try:
                await self.rest.hangup(channel_id)
            except (AriError, OSError) as exc:
                log.warning("reconcile: agent leg %s not hung up: %s", channel_id, exc)
            else:
                hung_up.add(channel_id)
        return frozenset(hung_up)

    async def _variable(self, channel_id: str, name: str) -> str:
        try:
            return await self.rest.get_variable(channel_id, name)
        except (AriError, OSError):
            return ""

    def post(self, channel_id: str, event: Event) -> None:
        if (session := self.sessions.get(channel_id)) is not None:
            session.post(event)

    async def hand_over(self) -> None:
        """On shutdown, no caller stays in a dead app: callers waiting in a campaign go to the
        dialplan's requeue loop (music, and back to the app when it is up again, in their place),
        every other call to the dialplan fallback. Each record says "shutdown", with what became
        of the call in its notes. Called again once the event stream is closed, for the calls
        that entered meanwhile."""
        first = not self.stopping
        self.stopping = True
        while pending := [(c, s) for c, s in self.sessions.items() if not s.stop_note]:
            for channel_id, session in pending:
                await self._hand_over(channel_id, session)
        if first and self.campaigns is not None:
            self.campaigns.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _hand_over(self, channel_id: str, session: CallSession) -> None:
        if self.campaigns is not None and self.campaigns.is_talking(channel_id):
            session.shut_down("left talking with its agent (bridged)")
            log.info("call %s: left talking with its agent", channel_id)
            return
        waiting = self.campaigns is not None and self.campaigns.is_waiting(channel_id)
        where, what = (REQUEUE, "the requeue loop") if waiting else (FALLBACK, "the dialplan fallback")
        # Before the request: the StasisEnd it causes must not be taken for a hang-up.
        session.shut_down(f"handed to {what}")
        try:
            await self.rest.continue_in_dialplan(channel_id, *where)
            log.info("call %s: handed to %s on shutdown", channel_id, what)
        except (AriError, OSError) as exc:
            session.shut_down(f"could not be handed to {what}: {exc}")
            log.warning("call %s: could not hand over: %s", channel_id, exc)
