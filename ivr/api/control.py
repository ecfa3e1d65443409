"""The per-call control API of backend-run campaigns: what a customer's backend sends to the
control URL it was given with each call (docs/backend.md).

    GET  /control/{call}/{token}       {"call": ..., "state": "waiting"}
    POST /control/{call}/{token}       {"id": "cmd-1", "command": "connect", "agent": "ana"}
                                       {"id": ..., "command": "connect", "sip": "sip:op@pbx.example.com"}
                                       {"id": ..., "command": "connect", "number": "+34600111222"}
                                       {"id": ..., "command": "play", "media": ["sound:ivr/please-hold"]}
                                       {"id": ..., "command": "send", "destination": "voicemail:front"}
                                       {"id": ..., "command": "set", "variables": {"tier": "gold"}}

The token in the URL is the only proof: it is random per call, and only its hash is stored. A
command's ``id`` makes it run once: the same id again gets the first answer. A request reaching a
node that does not hold the call is forwarded to the one that does (found in the database).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ivr.core.destinations import Destination
from ivr.core.distribution import events as evt
from ivr.core.events import BackendPlay, BackendSend, BackendSetVariables, Event
from ivr.core.fields import MEDIA
from ivr.core.flow import Flow
from ivr.core.nodes import Campaign, parse_destination
from ivr.store.backend_calls import BackendCall, BackendCalls

log = logging.getLogger("ivr.backend")

MAX_BODY = 16 * 1024
COMMAND_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,80}$")
SIP_URI = re.compile(r"^sip:[A-Za-z0-9._+\-]+@[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")
NUMBER = re.compile(r"^\+[1-9][0-9]{5,14}$")
VARIABLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
KEPT = 200
"""Answers kept per call, by command id, for repeats."""


class Refused(Exception):
    def __init__(self, status: int, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.state = state


class ControlDesk:
    def __init__(self, calls: BackendCalls, flow: Callable[[], Flow], state: Callable[[str], str | None],
                 feed: Callable[[evt.DistributionEvent], None], post: Callable[[str, Event], None],
                 http: aiohttp.ClientSession) -> None:
        self.calls = calls
        self.flow = flow
        self.state = state
        self.feed = feed
        self.post = post
        self.http = http
        self._answers: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}

    def routes(self) -> list[web.RouteDef]:
        path = "/control/{call}/{token}"
        return [web.get(path, self._handle), web.post(path, self._handle)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call_id, token = request.match_info["call"], request.match_info["token"]
        try:
            call = await self.calls.find(call_id, token)
        except (SQLAlchemyError, OSError) as exc:
            log.error("control of call %s: the database did not answer: %s", call_id, exc)
            return _answer(503, {"error": "the database did not answer; try again"})
        if call is None:
            return _answer(404, {"error": "no such call (or a wrong token)"})
        if call.node != self.calls.node:
            return await self._forward(request, call)
        if request.method == "GET":
            return _answer(200, {"call": call_id, "state": self.state(call_id) or "ended"})
        body = await request.content.read(MAX_BODY + 1)
        status, answer = self.command(call, body)
        return _answer(status, answer)

    def command(self, call: BackendCall, body: bytes) -> tuple[int, dict[str, Any]]:
        """The answer to one command on a call this node holds."""
        try:
            fields = _body(body)
            command_id = fields["id"]
        except Refused as exc:
            return exc.status, {"error": str(exc)}
        done = self._answers.setdefault(call.call_id, {})
        if command_id in done:
            return done[command_id]
        try:
            state = self._run(call, fields)
            answer: tuple[int, dict[str, Any]] = (202, {"id": command_id, "state": state})
        except Refused as exc:
            answer = (exc.status, {"id": command_id, "error": str(exc),
                                   **({"state": exc.state} if exc.state else {})})
        if len(done) < KEPT:
            done[command_id] = answer
        log.info("call %s: backend command %s (%s): %d", call.call_id, command_id, fields.get("command"),
                 answer[0])
        return answer

    def _run(self, call: BackendCall, fields: dict[str, Any]) -> str:
        state = self.state(call.call_id)
        if state is None:
            raise Refused(410, "the call has ended", "ended")
        node = self.flow().nodes.get(Destination("campaign", call.campaign))
        if not isinstance(node, Campaign):
            raise Refused(409, f"campaign {call.campaign} is no longer in the flow", state)
        match fields.get("command"):
            case "connect":
                target = self._target(node, fields)
                _need(state, "waiting", "connect")
                self.feed(evt.ConnectTarget(call.call_id, fields["id"], target))
                return "ringing"
            case "play":
                media = fields.get("media")
                if not (isinstance(media, list) and 0 < len(media) <= 10
                        and all(isinstance(m, str) and re.fullmatch(MEDIA, m) for m in media)):
                    raise Refused(400, "media: 1-10 media URIs such as sound:ivr/please-hold")
                _need(state, "waiting", "play")
                self.post(call.call_id, BackendPlay(tuple(media)))
            case "send":
                destination = self._destination(fields.get("destination"))
                _need(state, "waiting", "send")
                self.post(call.call_id, BackendSend(destination))
                return "sent"
            case "set":
                variables = fields.get("variables")
                if not (isinstance(variables, dict) and 0 < len(variables) <= 20 and all(
                        isinstance(k, str) and VARIABLE.match(k) and isinstance(v, str) and len(v) <= 200
                        for k, v in variables.items())):
                    raise Refused(400, "variables: 1-20 names (a letter, then letters, digits, _) with "
                                  "text values of at most 200 characters")
                self.post(call.call_id, BackendSetVariables(tuple(variables.items())))
            case other:
                raise Refused(400, f"command: one of connect, play, send, set (got {other!r})")
        return state

    def _target(self, node: Campaign, fields: dict[str, Any]) -> evt.Target:
        given = [key for key in ("agent", "sip", "number") if key in fields]
        if len(given) != 1 or not isinstance(fields[given[0]], str):
            raise Refused(400, "connect: one of agent, sip or number")
        value, flow = fields[given[0]], self.flow()
        if given[0] == "agent":
            if value not in flow.agents:
                raise Refused(400, f"agent: no agent {value!r} in the flow file")
            return evt.Target("agent", value, "")
        pattern, form = (SIP_URI, "sip:user@host") if given[0] == "sip" else (NUMBER, "+ and 6-15 digits")
        if not pattern.match(value):
            raise Refused(400, f"{given[0]}: expected {form}")
        if given[0] == "sip" and not node.allows_sip(value):
            raise Refused(403, f"sip: {value} is not in the campaign's allow_sip")
        for name in node.backend_trunks:
            trunk = flow.trunks.get(name)
            if trunk is not None and trunk.allows(value):
                return evt.Target("sip" if given[0] == "sip" else "number", value,
                                  trunk.dial.replace("{number}", value))
        raise Refused(403, f"{given[0]}: {value} is allowed by none of the campaign's backend_trunks")

    def _destination(self, text: object) -> Destination:
        if not isinstance(text, str):
            raise Refused(400, 'destination: expected "kind:name", e.g. "voicemail:front"')
        try:
            destination = parse_destination(text)
        except ValueError as exc:
            raise Refused(400, f"destination: {exc}") from exc
        if destination.kind != "hangup" and destination not in self.flow().nodes:
            raise Refused(400, f"destination: no node {destination} in the flow file")
        return destination

    async def _forward(self, request: web.Request, call: BackendCall) -> web.StreamResponse:
        url = f"{call.node_url.rstrip('/')}{request.rel_url.path}"
        try:
            async with self.http.request(request.method, url, data=await request.content.read(MAX_BODY + 1),
                                         headers={"Content-Type": "application/json"}, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=5)) as forwarded:
                return web.Response(status=forwarded.status, body=await forwarded.read(),
                                    content_type="application/json")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("control of call %s: node %s (%s) does not answer: %s", call.call_id, call.node,
                      call.node_url, exc)
            return _answer(503, {"error": f"the app node holding the call ({call.node}) does not answer"})


def _body(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise Refused(413, f"the body is over {MAX_BODY} bytes")
    try:
        fields = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refused(400, f"expected a JSON object ({type(exc).__name__})") from exc
    if not isinstance(fields, dict):
        raise Refused(400, "expected a JSON object")
    if not isinstance(fields.get("id"), str) or not COMMAND_ID.match(fields["id"]):
        raise Refused(400, "id: 1-80 of letters, digits, _ . : - naming the command (a repeat runs once)")
    return fields


def _need(state: str, wanted: str, command: str) -> None:
    if state != wanted:
        raise Refused(409, f"{command} needs the call {wanted}; it is {state}", state)


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
