"""The agents' and supervisors' API: JSON over HTTP and a server-sent events stream of call offers
(the screen pop), agent changes and the campaigns' wallboard rows.

Who may ask what (bearer tokens, the web page's session and CSRF token, the limit on wrong tokens)
is in ivr.api.auth.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ivr.api.auth import PAGE, SUPERVISOR, WHO, authenticate, error, security_headers, who_has
from ivr.api.callbacks import routes as callback_routes
from ivr.api.event_stream import EventLog
from ivr.api.pull import PullDesk
from ivr.api.service import Lines
from ivr.core.agents import AgentBoard, State, TransitionError
from ivr.core.destinations import Destination
from ivr.core.distribution.commands import LineEvent
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign
from ivr.core.wallboard import Wallboard
from ivr.json_input import JsonInputError, parse_json
from ivr.listen import PortTaken
from ivr.store.agent_calls import AgentCalls
from ivr.store.call_log import CallRecord
from ivr.store.callbacks import CallbackStore
from ivr.store.own_agents import OwnAgents
from ivr.web.presence import DISCONNECTED, PagePresence
from ivr.web.sessions import Sessions, WrongSecrets

log = logging.getLogger("ivr.api")

CUSTOMER_ID = re.compile(r"[0-9A-Za-z*#_\-]{1,64}")
REASON = re.compile(r"[^\x00-\x1f\x7f]{1,80}")
BODY_LIMIT = 64 * 1024
HOLDING = (State.RINGING, State.ON_CALL, State.WRAP_UP)
DEFAULT_SERVICE_LEVEL = 20.0
BOARD_PUSH_SECONDS = 0.25


@dataclass(frozen=True)
class PageOptions:
    """What the web page offers (settings ``[agents]`` and ``[api]``)."""

    pause_reasons: tuple[str, ...] = ("break", "lunch", "meeting", "training")
    crm_link: str = ""
    """A template of the CRM's page for the customer: ``{customer_id}``, ``{caller}``, ``{did}``,
    ``{campaign}``, ``{call}``."""
    disconnected_after: float = 30.0
    session_seconds: float = 12 * 3600
    wrong_secrets: int = 10
    """Wrong tokens or passwords per address and minute before 429."""


class Api:
    def __init__(self, board: AgentBoard, lines: Lines, own_agents: OwnAgents, tokens: dict[str, str],
                 clock: Callable[[], float], flow: Callable[[], Flow], callbacks: CallbackStore | None = None,
                 recording: Callable[[str], Awaitable[bytes]] | None = None, pulls: PullDesk | None = None,
                 own_routes: list[web.RouteDef] | None = None, calls: AgentCalls | None = None,
                 options: PageOptions = PageOptions(),
                 today: Callable[[], date] = lambda: datetime.now().date()) -> None:
        self.board = board
        self.flow = flow
        self.callbacks = callbacks
        self.pulls = pulls
        self.calls = calls
        self.options = options
        self.own_routes = own_routes or []
        """Routes that prove themselves (SMS gateways, backends' control URLs), not by a token."""
        self.recording = recording or _no_recording
        self.lines = lines
        self.own_agents = own_agents
        self.tokens = tokens
        self.clock = clock
        self.sessions = Sessions(clock, options.session_seconds)
        self.wrong = WrongSecrets(clock, options.wrong_secrets)
        self.presence = PagePresence(clock, options.disconnected_after)
        self.wallboard = Wallboard(today, self._service_level)
        self._changed: set[str] = set()
        """Campaigns whose wallboard row changed since it was last pushed."""
        self.events = EventLog()
        self.refused: Counter[int] = Counter()
        """Requests refused, by HTTP status (bad input, wrong tokens, limits): a metric."""
        self.offers: dict[str, dict[str, Any]] = {}
        """Agent -> the offer it was last shown, for a page opened while the phone rings."""
        self.page_routes: list[web.RouteDef] = []
        """The web page (ivr.web.pages), added by whoever serves it."""
        lines.subscribe(self._offered)
        lines.count(self._counted)
        board.listeners.append(lambda agent: self.events.publish({"type": "agent", **self.agent_view(agent)}))

    def app(self) -> web.Application:
        middlewares = [security_headers(self.refused), authenticate(self.who_has, self.sessions, self.wrong)]
        app = web.Application(middlewares=middlewares, client_max_size=BODY_LIMIT)
        app.router.add_get("/api/me", self.me)
        app.router.add_get("/api/agents", self.agents)
        app.router.add_post("/api/agents/{agent}/{action:login|logout|ready|pause}", self.act)
        app.router.add_get("/api/agents/{agent}/calls", self.calls_of_day)
        app.router.add_get("/api/campaigns", self.queues)
        app.router.add_get("/api/wallboard", self.board_view)
        app.router.add_get("/api/events", self.stream)
        app.router.add_route("*", "/api/customers/{customer}/agent", self.own_agent)
        if self.callbacks is not None:
            app.router.add_routes(callback_routes(self.callbacks, self._callback_campaigns, self.recording))
        if self.pulls is not None:
            app.router.add_routes(self.pulls.routes(lambda request: request[WHO]))
        app.router.add_routes(self.own_routes)
        app.router.add_routes(self.page_routes)
        return app

    # -- who is asking

    def who_has(self, token: str) -> str | None:
        """Whom ``token`` stands for among the current tokens (`ivr reload` renews them)."""
        return who_has(self.tokens, token)

    # -- agents

    async def me(self, request: web.Request) -> web.Response:
        who = request[WHO]
        flow = self.flow()
        campaigns = [d.name for d, node in flow.nodes.items() if isinstance(node, Campaign)
                     and (who == SUPERVISOR or who in node.agents or who in node.overflow_agents)]
        pulls = [name for name in campaigns if _campaign(flow, name).pull]
        me: dict[str, Any] = {"who": "supervisor" if who == SUPERVISOR else who, "campaigns": campaigns,
                              "pull_campaigns": pulls, "pause_reasons": list(self.options.pause_reasons),
                              "callbacks": self.callbacks is not None}
        if who != SUPERVISOR and who in self.board.agents:
            me["agent"] = self.agent_view(who)
            offer = self.offers.get(who)
            if offer is not None and self.board.status(who).state in HOLDING:
                me["offer"] = offer
        return web.json_response(me)

    async def agents(self, request: web.Request) -> web.Response:
        return web.json_response({"agents": [self.agent_view(name) for name in self.board.agents
                                             if request[WHO] in (SUPERVISOR, name)]})

    def agent_view(self, name: str) -> dict[str, Any]:
        profile, status = self.board.agents[name], self.board.status(name)
        mean = status.mean_answer_seconds
        return {"id": name, "name": profile.name, "email": profile.email, "state": status.state.value,
                "reason": status.reason, "since_seconds": round(self.clock() - status.since, 1),
                "phone_reachable": status.reachable, "phone_busy": status.device_busy,
                "page_connected": self.presence.connected(name),
                "offers": status.offers, "answers": status.answers, "no_answers": status.no_answers,
                "no_answers_in_a_row": status.no_answers_in_a_row,
                "mean_answer_seconds": None if mean is None else round(mean, 2)}

    async def act(self, request: web.Request) -> web.Response:
        agent, action, who = request.match_info["agent"], request.match_info["action"], request[WHO]
        if who not in (SUPERVISOR, agent):
            return error(403, "an agent acts for itself only")
        if agent not in self.board.agents:
            return error(404, f"no agent {agent!r}")
        reason = ""
        if action == "pause":
            body = await _json(request)
            if isinstance(body, web.Response):
                return body
            given = body.get("reason") if isinstance(body, dict) else None
            if not isinstance(given, str) or not REASON.fullmatch(given):
                return error(400, 'reason: pause needs {"reason": "<1-80 printable characters>"}')
            reason = given
        try:
            match action:
                case "login":
                    self.board.log_in(agent)
                case "logout":
                    self.board.log_out(agent)
                case "ready":
                    self.board.ready(agent)
                case "pause":
                    self.board.pause(agent, reason)
        except TransitionError as exc:
            return error(409, str(exc))
        if action != "pause" or reason != DISCONNECTED:
            self.presence.paused(agent)
        log.info("agent %s: %s%s by %s", agent, action, f" ({reason})" if reason else "",
                 "the supervisor" if who == SUPERVISOR else who)
        return web.json_response(self.agent_view(agent))

    async def calls_of_day(self, request: web.Request) -> web.Response:
        agent, who = request.match_info["agent"], request[WHO]
        if who not in (SUPERVISOR, agent):
            return error(403, "an agent reads its own calls only")
        if self.calls is None:
            return web.json_response({"calls": []})
        midnight = datetime.combine(self.wallboard.today(), datetime.min.time()).astimezone(UTC)
        try:
            found = await self.calls.since(agent, midnight)
        except (SQLAlchemyError, OSError) as exc:
            log.error("API: calls of agent %s not read: %s", agent, exc)
            return error(503, "the database did not answer")
        return web.json_response({"calls": found})

    def check_pages(self) -> None:
        """Pause the agents whose page has been gone too long (run every second)."""
        for agent in self.presence.due():
            if agent not in self.board.agents:
                self.presence.paused(agent)
                continue
            state = self.board.status(agent).state
            if state in (State.READY, State.WRAP_UP):
                self.board.pause(agent, DISCONNECTED)
                log.warning("agent %s: paused, its page disconnected %g s ago", agent,
                            self.options.disconnected_after)
            if state not in (State.RINGING, State.ON_CALL):
                self.presence.paused(agent)

    async def watch_pages(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.check_pages()

    # -- customers

    async def own_agent(self, request: web.Request) -> web.Response:
        """The customer's own agent, as stored: read, set (e.g. by the CRM side) or forget it."""
        customer = request.match_info["customer"]
        if request[WHO] != SUPERVISOR:
            return error(403, "only the supervisor reads or sets customers' agents")
        if not CUSTOMER_ID.fullmatch(customer):
            return error(400, "a customer id is 1-64 of 0-9 A-Z a-z * # _ -")
        store = self.own_agents
        try:
            if request.method == "PUT":
                body = await _json(request)
                if isinstance(body, web.Response):
                    return body
                agent = body.get("agent") if isinstance(body, dict) else None
                if not isinstance(agent, str) or agent not in self.board.agents:
                    return error(400, 'agent: expected {"agent": "<id of an agent of the flow file>"}')
                await store.keep(customer, agent)
            elif request.method == "DELETE":
                await store.forget(customer)
                return web.Response(status=204)
            elif request.method != "GET":
                return error(405, "GET, PUT or DELETE")
            stored = await store.of(customer)
        except (SQLAlchemyError, OSError) as exc:
            log.error("API: customer %s: own agent store failed: %s", customer, exc)
            return error(503, "the database did not answer; nothing was changed")
        if not stored:
            return error(404, f"no agent stored for customer {customer}")
        return web.json_response({"customer_id": customer, "agent": stored})

    # -- campaigns

    async def queues(self, request: web.Request) -> web.Response:
        now = self.clock()
        result = []
        for name, line in self.lines.waiting_lines().items():
            result.append({"campaign": name, "waiting": [
                {"call": w.call_id, "position": index, "priority": w.priority,
                 "waited_seconds": round(now - w.joined_at, 1)}
                for index, w in enumerate(line, start=1)]})
        return web.json_response({"campaigns": result})

    async def board_view(self, request: web.Request) -> web.Response:
        if request[WHO] != SUPERVISOR:
            return error(403, "only the supervisor reads the wallboard")
        return web.json_response({"campaigns": self._rows()})

    def _rows(self, only: str = "") -> list[dict[str, Any]]:
        flow = self.flow()
        names = [d.name for d, node in flow.nodes.items() if isinstance(node, Campaign)]
        rows = self.wallboard.view(names, self.lines.waiting_lines(), self.clock())
        return [row for row in rows if not only or row["campaign"] == only]

    def _service_level(self, campaign: str) -> float:
        node = self.flow().nodes.get(Destination("campaign", campaign))
        return node.service_level if isinstance(node, Campaign) else DEFAULT_SERVICE_LEVEL

    def _callback_campaigns(self, request: web.Request) -> list[str] | None:
        """The campaigns whose callbacks the caller may see: all (None) for the supervisor."""
        who = request[WHO]
        if who == SUPERVISOR:
            return None
        return [d.name for d, node in self.flow().nodes.items()
                if isinstance(node, Campaign) and (who in node.agents or who in node.overflow_agents)]

    # -- the event stream

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Offers (screen pop) and agent changes; an agent sees its own, the supervisor every one
        and the wallboard's rows."""
        who, page = request[WHO], request[PAGE]

        def sees(event: dict[str, Any]) -> bool:
            if event["type"] == "campaign":
                return bool(who == SUPERVISOR)
            return who in (SUPERVISOR, event.get("agent"), event.get("id"))

        counted = page and who != SUPERVISOR and who in self.board.agents

        def opened() -> None:
            if counted:
                self.presence.opened(who)
                self.events.publish({"type": "agent", **self.agent_view(who)})

        try:
            return await self.events.serve(request, sees, opened)
        finally:
            if counted:
                self.presence.closed(who)
                if who in self.board.agents:
                    self.events.publish({"type": "agent", **self.agent_view(who)})

    def _offered(self, event: dict[str, Any]) -> None:
        agent = str(event.get("agent", ""))
        if self.options.crm_link and event.get("customer_id"):
            event["crm_link"] = crm_link(self.options.crm_link, event)
        self.offers[agent] = event
        self.events.publish(event)

    def call_ended(self, record: CallRecord) -> None:
        """A call an agent took ended: its page lists it at once (stored a moment later)."""
        if record.agent:
            self.events.publish({"type": "call", "agent": record.agent, **call_summary(record)})

    def _counted(self, event: LineEvent) -> None:
        """Counted at once; pushed once per campaign per ``BOARD_PUSH_SECONDS``, so that a burst
        of callers does not fill the supervisor's stream with rows one replaces the next."""
        self.wallboard.count(event)
        if not self._changed:
            asyncio.get_running_loop().call_later(BOARD_PUSH_SECONDS, self._push_board)
        self._changed.add(event.campaign)

    def _push_board(self) -> None:
        changed, self._changed = self._changed, set()
        for row in self._rows():
            if row["campaign"] in changed:
                self.events.publish({"type": "campaign", **row})

    async def close(self) -> None:
        await self.events.close()


def call_summary(record: CallRecord) -> dict[str, Any]:
    """What an agent's page lists of a call (ivr.store.agent_calls reads the same)."""
    return {"started_at": record.started_at.astimezone(UTC).isoformat(),
            "ended_at": record.ended_at.astimezone(UTC).isoformat(), "caller": record.caller,
            "did": record.did, "customer_id": record.customer_id, "outcome": record.outcome,
            "destination": record.destination}


def crm_link(template: str, offer: dict[str, Any]) -> str:
    """The CRM's page for the offer's customer, each value quoted for a URL.

    >>> crm_link("https://crm.example/customers/{customer_id}?from={caller}",
    ...          {"customer_id": "12/34", "caller": "+34 600"})
    'https://crm.example/customers/12%2F34?from=%2B34%20600'
    """
    fields = {name: quote(str(offer.get(name, "")), safe="") for name in
              ("customer_id", "caller", "did", "campaign", "call")}
    return template.format_map(fields)


def _campaign(flow: Flow, name: str) -> Campaign:
    node = flow.nodes[Destination("campaign", name)]
    assert isinstance(node, Campaign)
    return node


async def _json(request: web.Request) -> Any:
    """The body as JSON (limited in size and depth), or a 400 that says what was wrong."""
    try:
        return parse_json(await request.read(), max_bytes=BODY_LIMIT)
    except JsonInputError as exc:
        return error(400, f"body: {exc}")


async def _no_recording(name: str) -> bytes:
    raise OSError("this API has no Asterisk to read recordings from")


async def start(api: Api, bind: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(api.app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, bind, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise PortTaken("api.port", bind, port, exc) from exc
    log.info("API: listening on http://%s:%d/ (the web page) and /api", bind, port)
    return runner
