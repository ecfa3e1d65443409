"""The agents' and supervisors' API: JSON over HTTP, bearer tokens, and a server-sent events
stream of call offers (the screen pop) and agent state changes.

Tokens are generated on first start into the state folder (mode 0600): ``api/supervisor-token``
acts on every agent, ``api/agent-<name>-token`` on that agent only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ivr.api.callbacks import routes as callback_routes
from ivr.api.pull import PullDesk
from ivr.api.service import Lines
from ivr.core.agents import AgentBoard, TransitionError
from ivr.listen import PortTaken
from ivr.secrets import ensure_secret
from ivr.store.callbacks import CallbackStore
from ivr.store.own_agents import OwnAgents

log = logging.getLogger("ivr.api")

SUPERVISOR = "*"
CUSTOMER_ID = re.compile(r"[0-9A-Za-z*#_\-]{1,64}")
STREAM_QUEUE = 100


def tokens(folder: Path, agents: list[str]) -> dict[str, str]:
    """Token -> who it is: an agent's name, or ``*`` for the supervisor."""
    found = {ensure_secret(folder / "supervisor-token"): SUPERVISOR}
    for agent in agents:
        found[ensure_secret(folder / f"agent-{agent}-token")] = agent
    return found


class Api:
    def __init__(self, board: AgentBoard, lines: Lines, own_agents: OwnAgents, tokens: dict[str, str],
                 clock: Callable[[], float], callbacks: CallbackStore | None = None,
                 recording: Callable[[str], Awaitable[bytes]] | None = None, pulls: PullDesk | None = None,
                 own_routes: list[web.RouteDef] | None = None) -> None:
        self.board = board
        self.callbacks = callbacks
        self.pulls = pulls
        self.own_routes = own_routes or []
        """Routes that prove themselves (SMS gateways, backends' control URLs), not by a token."""
        self.recording = recording or _no_recording
        self.lines = lines
        self.own_agents = own_agents
        self.tokens = tokens
        self.clock = clock
        self.streams: set[asyncio.Queue[dict[str, Any]]] = set()
        lines.subscribe(self.publish)
        board.listeners.append(lambda agent: self.publish({"type": "agent", **self._agent(agent)}))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/api/agents", self.agents)
        app.router.add_post("/api/agents/{agent}/{action:login|logout|ready|pause}", self.act)
        app.router.add_get("/api/campaigns", self.queues)
        app.router.add_get("/api/events", self.events)
        app.router.add_route("*", "/api/customers/{customer}/agent", self.own_agent)
        if self.callbacks is not None:
            app.router.add_routes(callback_routes(self.callbacks, _supervisor_only, self.recording))
        if self.pulls is not None:
            app.router.add_routes(self.pulls.routes(lambda request: str(request["who"])))
        app.router.add_routes(self.own_routes)
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(("/sms/", "/control/")):
            # SMS gateways prove themselves with the inbound secret (ivr.sms.routes), backends
            # with the call's control token (ivr.api.control).
            return cast(web.StreamResponse, await handler(request))
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        who = next((name for token, name in self.tokens.items()
                    if given and hmac.compare_digest(token, given)), None)
        if who is None:
            return _error(401, "a valid 'Authorization: Bearer <token>' header is required")
        request["who"] = who
        response: web.StreamResponse = await handler(request)
        return response

    async def agents(self, request: web.Request) -> web.Response:
        return web.json_response({"agents": [self._agent(name) for name in self.board.agents
                                             if request["who"] in (SUPERVISOR, name)]})

    def _agent(self, name: str) -> dict[str, Any]:
        profile, status = self.board.agents[name], self.board.status(name)
        mean = status.mean_answer_seconds
        return {"id": name, "name": profile.name, "email": profile.email, "state": status.state.value,
                "reason": status.reason, "since_seconds": round(self.clock() - status.since, 1),
                "phone_reachable": status.reachable, "phone_busy": status.device_busy,
                "offers": status.offers, "answers": status.answers, "no_answers": status.no_answers,
                "no_answers_in_a_row": status.no_answers_in_a_row,
                "mean_answer_seconds": None if mean is None else round(mean, 2)}

    async def act(self, request: web.Request) -> web.Response:
        agent, action = request.match_info["agent"], request.match_info["action"]
        if agent not in self.board.agents:
            return _error(404, f"no agent {agent!r}")
        if request["who"] not in (SUPERVISOR, agent):
            return _error(403, f"this token acts for {request['who']!r} only")
        reason = ""
        if action == "pause":
            body = await _json(request)
            reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
            if not reason or len(reason) > 80 or not reason.isprintable():
                return _error(400, 'pause needs {"reason": "..."} (printable, at most 80 characters)')
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
            return _error(409, str(exc))
        log.info("agent %s: %s by %s", agent, action, request["who"])
        return web.json_response(self._agent(agent))

    async def own_agent(self, request: web.Request) -> web.Response:
        """The customer's own agent, as stored: read, set (e.g. by the CRM side) or forget it."""
        customer = request.match_info["customer"]
        if request["who"] != SUPERVISOR:
            return _error(403, "only the supervisor token reads or sets customers' agents")
        if not CUSTOMER_ID.fullmatch(customer):
            return _error(400, "a customer id is 1-64 of 0-9 A-Z a-z * # _ -")
        store = self.own_agents
        try:
            if request.method == "PUT":
                body = await _json(request)
                agent = body.get("agent") if isinstance(body, dict) else None
                if agent not in self.board.agents:
                    return _error(400, 'expected {"agent": "<id of an agent of the flow file>"}')
                await store.keep(customer, str(agent))
            elif request.method == "DELETE":
                await store.forget(customer)
                return web.Response(status=204)
            elif request.method != "GET":
                return _error(405, "GET, PUT or DELETE")
            agent = await store.of(customer)
        except (SQLAlchemyError, OSError) as exc:
            log.error("API: customer %s: own agent store failed: %s", customer, exc)
            return _error(503, "the database did not answer; nothing was changed")
        if not agent:
            return _error(404, f"no agent stored for customer {customer}")
        return web.json_response({"customer_id": customer, "agent": agent})

    async def queues(self, request: web.Request) -> web.Response:
        now = self.clock()
        result = []
        for name, line in self.lines.waiting_lines().items():
            result.append({"campaign": name, "waiting": [
                {"call": w.call_id, "position": index, "priority": w.priority,
                 "waited_seconds": round(now - w.joined_at, 1)}
                for index, w in enumerate(line, start=1)]})
        return web.json_response({"campaigns": result})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: offers (screen pop) and agent changes; an agent sees its own."""
        who = request["who"]
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(b": connected\n\n")
        self.streams.add(queue)
        try:
            while True:
                event = await queue.get()
                if who in (SUPERVISOR, event.get("agent"), event.get("id")):
                    await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams.discard(queue)
        return response

    def publish(self, event: dict[str, Any]) -> None:
        for queue in list(self.streams):
            if queue.full():
                log.warning("API: an event stream reads too slowly; dropping its oldest event")
                queue.get_nowait()
            queue.put_nowait(event)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError):
        return None


async def _no_recording(name: str) -> bytes:
    raise OSError("this API has no Asterisk to read recordings from")


def _supervisor_only(request: web.Request) -> web.Response | None:
    if request["who"] != SUPERVISOR:
        return _error(403, "only the supervisor token reads or changes callbacks")
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def start(api: Api, bind: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, bind, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise PortTaken("api.port", bind, port, exc) from exc
    log.info("API: listening on http://%s:%d/api", bind, port)
    return runner
