"""`ivr run`: the ARI application, serving calls until stopped; SIGHUP reloads the flow file."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ivr import loop_lag
from ivr.api.auth import SUPERVISOR, WHO, tokens
from ivr.api.control import ControlDesk
from ivr.api.health import routes as health_routes
from ivr.api.pull import PullDesk
from ivr.api.server import Api, PageOptions
from ivr.api.server import start as start_api
from ivr.ari.events import EventStream
from ivr.ari.rest import AriRest
from ivr.ari.tls import ari_tls
from ivr.core.admission import Admission, CallRate, Refusal
from ivr.core.agents import AgentBoard, AgentProfile, AutoPause
from ivr.core.distribution.engine import Distribution
from ivr.core.flow import Flow
from ivr.crm.service import CrmService
from ivr.flow_holder import FlowHolder
from ivr.metrics import LiveState, Metrics, Polled
from ivr.reports import stats_routes
from ivr.secrets import ari_password, ensure_secret
from ivr.settings import Settings
from ivr.signals import on_signal
from ivr.sms.gateway import gateway, inbound_secret
from ivr.sms.routes import routes as sms_routes
from ivr.stasis.app import StasisApp
from ivr.stasis.backend_calls import BackendCallsRun
from ivr.stasis.campaigns import Campaigns
from ivr.stasis.gate import DialplanGate
from ivr.store.agent_calls import AgentCalls
from ivr.store.agents import AgentStateWriter, AgentStore, follow_other_nodes, restore
from ivr.store.backend_calls import BackendCalls
from ivr.store.backend_events import EventOutbox
from ivr.store.call_log import CallRecord, record_of_closed, writer_for
from ivr.store.callbacks import CallbackStore
from ivr.store.claims import AgentClaims, Claims, NodeAloneClaims, keep_renewing
from ivr.store.engine import database_url, open_engine
from ivr.store.migrations import upgrade
from ivr.store.open_calls import LOST, Closed, OpenCalls, keep_open_calls
from ivr.store.own_agents import OwnAgents
from ivr.store.pulls import PullStore
from ivr.store.queue_log import writer_for as queue_log_writer
from ivr.store.spare_calls import SpareCalls
from ivr.web.pages import Pages

log = logging.getLogger("ivr.run")


def page_options(settings: Settings) -> PageOptions:
    agents = settings.agents
    return PageOptions(agents.pause_reasons, agents.crm_link, agents.disconnected_after,
                       settings.api.session_hours * 3600, settings.api.wrong_secrets_per_minute)


def agent_profiles(flow: Flow) -> dict[str, AgentProfile]:
    return {name: AgentProfile(name, agent.name, agent.email, tuple(agent.skills.items()), agent.cost,
                               agent.weight)
            for name, agent in flow.agents.items()}


async def reload(flows: FlowHolder, board: AgentBoard, api: Api, settings: Settings,
                 campaigns: Campaigns) -> None:
    """SIGHUP: the flow file again; its agents too (their phones need `ivr pbx up`)."""
    if not await flows.reload():
        return
    before = set(board.agents)
    added = board.update(agent_profiles(flows.current))
    for name in added:
        if flows.current.agents[name].ready_at_start:
            board.log_in(name)
    campaigns.agents_changed()
    api.tokens = await asyncio.to_thread(tokens, settings.state_path / "api", list(board.agents))
    for gone in before - set(board.agents):
        api.sessions.close_all(gone)
    if added or before - set(board.agents):
        log.info("reload: agents added: %s; removed: %s", ", ".join(added) or "none",
                 ", ".join(sorted(before - set(board.agents))) or "none")


def keep_startup_objects() -> None:
    """Startup's objects (modules, the database engine, the flows) last as long as the process:
    out of the garbage collector's sight, a full collection no longer walks them all (it took 92
    and 115 ms in two runs with 400 calls in progress, every call held meanwhile)."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings) -> None:
    """Serve calls until SIGINT/SIGTERM; raises ConfigError on an invalid flow, AriAuthError or
    AriUnreachable on start-up."""
    flows = FlowHolder(settings.flow_path)
    admission = Admission(settings.admission.max_calls, settings.admission.max_loop_lag,
                          settings.admission.max_event_delay, settings.admission.max_request_time)
    password = ari_password(settings)
    engine = open_engine(database_url(settings))
    await upgrade(engine)
    records = writer_for(settings, engine, settings.ari.app)
    boot = datetime.now(UTC)

    def record(call: CallRecord) -> None:
        records(call)
        api.call_ended(call)
        metrics.call_ended(call)
    tls = ari_tls(settings)
    rest = AriRest(settings.ari_url, settings.ari.user, password, settings.ari.request_timeout, tls,
                   timed=lambda seconds: metrics.ari_request(seconds))
    crm = CrmService()
    board = AgentBoard(agent_profiles(flows.current), time.monotonic,
                       AutoPause(settings.agents.auto_pause_after, settings.agents.auto_pause_seconds))
    for name, agent in flows.current.agents.items():
        if agent.ready_at_start:
            board.log_in(name)
    agent_store = AgentStore(engine, settings.ari.app)
    alone = set(settings.pbx.apps) <= {settings.ari.app}
    shared_claims = AgentClaims(engine, settings.ari.app)
    await shared_claims.release_all()
    claims: Claims = NodeAloneClaims() if alone else shared_claims
    await restore(board, agent_store)
    agent_states = AgentStateWriter(agent_store, board)
    board.listeners.append(agent_states)
    stream: EventStream
    app: StasisApp
    distribution = Distribution(board, lambda: flows.current, time.monotonic, lambda: datetime.now(UTC))
    own_agents = OwnAgents(engine)
    callbacks = CallbackStore(engine, settings.ari.app)
    pulled = PullStore(engine, settings.ari.app)
    if closed := await pulled.close_all("the app restarted"):
        # Callers taken back wait again under new codes, their staff texted again.
        log.info("%d pulled call(s) of an earlier run closed", closed)
    sms = gateway(settings, crm.http)
    for gap in flows.current.pull_gaps(texting=sms is not None):
        log.warning("%s", gap)
    backend_calls = BackendCalls(engine, settings.ari.app, settings.api.url)
    backends = BackendCallsRun(backend_calls, EventOutbox(engine, settings.ari.app), crm.http,
                               lambda: flows.current, settings.api.url,
                               feed=lambda event: campaigns.feed(event),
                               spawn=lambda work: campaigns.spawn(work))
    campaigns = Campaigns(rest, settings.ari.app, distribution,
                          post=lambda call, event: app.post(call, event),
                          claims=claims, own_agents=own_agents, http=crm.http, callback_store=callbacks,
                          on_record=record, pull_store=pulled, sms=sms, backends=backends,
                          spare_store=SpareCalls(engine))
    queue_log = queue_log_writer(settings, engine, board, lambda: flows.current)
    board.listeners.append(queue_log.agent_changed)
    campaigns.count(queue_log.count)
    control = ControlDesk(backend_calls, lambda: flows.current, distribution.backend_state, campaigns.feed,
                          lambda call, event: app.post(call, event), crm.http)
    desk = PullDesk(pulled, lambda: flows.current, sms, campaigns.pulled)
    call_rate = CallRate(settings.admission.max_call_rate, time.monotonic())

    def admit(calls: int) -> Refusal | None:
        """Why a new call, with this many in progress, is turned away now, or None to take it."""
        refusal = admission.refuses(*measures(calls)) or call_rate.take(time.monotonic())
        gate.arrive(refusal)
        return refusal

    app = StasisApp(settings.ari.app, rest, flows.new_call, connection=lambda: stream.connections,
                    flow_name=settings.flow_path.stem[:40], on_record=record, crm=crm,
                    campaigns=campaigns, admit=admit, on_open=records.opened)

    def measures(calls: int) -> tuple[int, float, float, float]:
        """What admission control reads (ivr.core.admission), with this many calls in progress."""
        return calls, metrics.loop_lag_now, metrics.event_delay_now, metrics.request_time_now
    gate_rest = AriRest(settings.ari_url, settings.ari.user, password, settings.ari.request_timeout, tls)
    gate = DialplanGate(rest, gate_rest, settings.ari.app,
                        lambda: admission.refuses(*measures(len(app.sessions))),
                        lambda: admission.clears(*measures(len(app.sessions))),
                        settings.admission.max_call_rate)
    open_calls = OpenCalls(engine, settings.ari.app)

    async def close(calls: list[Closed]) -> None:
        for closed in calls:
            log.warning("call %s: app node %s stopped during the call; its record closed here",
                        closed.call.channel_id, closed.node)
            record(record_of_closed(closed, settings.ari.app))
        if calls:
            await pulled.close_calls((closed.call.channel_id for closed in calls), LOST)

    async def connected() -> None:
        await gate.connected()
        await app.reconcile()
        if not reconciled.is_set():  # the calls of an earlier run that were not taken back
            reconciled.set()
            try:
                await close(await open_calls.left(boot, set(app.sessions)))
            except (SQLAlchemyError, OSError) as exc:
                log.error("calls an earlier run left open not recorded now: %s", exc)
    reconciled = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        metrics.ari_event(event)
        app.on_event(event)

    stream = EventStream(settings.ari_url, settings.ari.user, password, settings.ari.app,
                         on_event=on_event, on_connected=connected,
                         ping_interval=settings.ari.ping_interval,
                         startup_timeout=settings.ari.startup_timeout, tls=tls)
    secret = inbound_secret(settings)
    inbound = sms_routes(desk.on_sms, secret if settings.sms.gateway == "kannel" else None,
                         settings.sms.http if settings.sms.gateway == "http" else None, secret)
    api = Api(board, campaigns, own_agents, tokens(settings.state_path / "api", list(board.agents)),
              time.monotonic, lambda: flows.current, callbacks, rest.stored_recording, desk,
              [*inbound, *control.routes(), *stats_routes(
                  engine, lambda: flows.current, settings.reports.short_abandon,
                  lambda request: request[WHO] == SUPERVISOR)], AgentCalls(engine), page_options(settings))
    callbacks_pending = Polled(callbacks.pending_count)
    metrics = Metrics(LiveState(lambda: len(app.sessions), campaigns.waiting_lines, board,
                                lambda: stream.connections, stream.connected.is_set, crm.open_breakers,
                                lambda: records.spooled, callbacks_pending, lambda: api.refused,
                                lambda: app.turned_away + gate.turned_away, lambda: rest.sent,
                                lambda: gate.share))
    metrics_token = ensure_secret(settings.state_path / "api" / "metrics-token")
    api.page_routes = [*Pages(api, settings.state_path / "api", lambda request: request.secure
                              or settings.api.url.startswith("https://")).routes(),
                       *health_routes(api, metrics, metrics_token, stream.connected.is_set, engine)]
    api_runner = await start_api(api, settings.api.bind, settings.api.port)
    watching = asyncio.create_task(api.watch_pages(), name="agents-pages")
    measuring = [asyncio.create_task(metrics.sample_loop_lag(), name="loop-lag-metric"),
                 asyncio.create_task(callbacks_pending.run(), name="callbacks-pending-metric")]
    reader = asyncio.create_task(stream.run(), name="ari-events")
    gating = asyncio.create_task(gate.run(), name="dialplan-gate")
    renewing = None if alone else asyncio.create_task(keep_renewing(shared_claims), name="agent-claims")
    keeping = asyncio.create_task(keep_open_calls(open_calls, close, others=not alone), name="open-calls")
    calling_back = asyncio.create_task(campaigns.serve_callbacks(), name="callbacks")
    pulling = asyncio.create_task(campaigns.serve_pulls(), name="pulled-calls")
    backing = asyncio.create_task(campaigns.serve_backends(), name="backend-events")
    sparing = asyncio.create_task(campaigns.serve_spare_counts(), name="spare-counts")
    following = None if alone else asyncio.create_task(follow_other_nodes(board, agent_store),
                                                       name="agent-presence")
    lag_path = loop_lag.lag_file()
    lag = asyncio.create_task(loop_lag.sample(lag_path), name="loop-lag") if lag_path else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    on_signal(signal.SIGHUP, lambda: reload(flows, board, api, settings, campaigns))
    stopping = asyncio.create_task(stop.wait())
    pid_file = settings.pid_path
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    keep_startup_objects()
    try:
        await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            reader.result()
        log.info("stopping: handing %d call(s) to the dialplan", len(app.sessions))
        gating.cancel()
        await gate.shut()
        await app.hand_over()
        await asyncio.wait_for(stream.close(), timeout=5)
        await asyncio.wait_for(reader, timeout=5)
        await app.hand_over()  # the calls that entered while the stream was being closed
    finally:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
        tasks = [t for t in (reader, gating, stopping, renewing, keeping, following, lag, calling_back,
                             pulling, backing, watching, sparing, *measuring) if t is not None]
        for task in tasks:
            task.cancel()
        # Awaited, so that a task cancelled in the middle of a database request closes its
        # connection: aiosqlite's thread for one left open keeps the process from exiting (an
        # `ivr run` with a wrong ARI password once hung there, its callbacks' first poll under way).
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.close()
        await api_runner.cleanup()
        await records.drain()
        await agent_states.drain()
        await queue_log.drain()
        await crm.aclose()
        await rest.aclose()
        await gate_rest.aclose()
        await engine.dispose()
