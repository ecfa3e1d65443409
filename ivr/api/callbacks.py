"""The supervisors' view of callbacks: list them by campaign and state, cancel one, reschedule one.

    GET  /api/callbacks?campaign=sales&state=pending   (an agent's token: its campaigns' only)
    POST /api/callbacks/{id}/cancel        {"reason": "..."}        (optional body)
    POST /api/callbacks/{id}/reschedule    {"at": "2026-12-07T09:30:00+01:00"}
    GET  /api/callbacks/{id}/message       the caller's message, audio/wav (any token: the agent
                                           offered the callback plays it on its screen)

Only pending callbacks can be cancelled or rescheduled (409 otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ivr.ari.rest import AriError
from ivr.core.callbacks import Callback, CallbackState
from ivr.json_input import JsonInputError, parse_json
from ivr.store.callbacks import CallbackStore

log = logging.getLogger("ivr.api")

ID = r"[0-9a-f]{1,32}"


def routes(store: CallbackStore, campaigns_of: Callable[[web.Request], list[str] | None],
           recording: Callable[[str], Awaitable[bytes]]) -> list[web.RouteDef]:
    """``campaigns_of(request)``: the campaigns whose callbacks it may list (an agent's), or None
    for every campaign and the changes (the supervisor)."""

    def is_supervisor(request: web.Request) -> web.Response | None:
        if campaigns_of(request) is not None:
            return _error(403, "only the supervisor cancels or reschedules callbacks")
        return None

    async def listing(request: web.Request) -> web.StreamResponse:
        state = request.query.get("state")
        if state is not None and state not in {s.value for s in CallbackState}:
            return _error(400, f"state: one of {', '.join(s.value for s in CallbackState)}")
        campaign, allowed = request.query.get("campaign"), campaigns_of(request)
        if allowed is not None and campaign is not None and campaign not in allowed:
            return _error(403, "an agent lists the callbacks of its own campaigns only")
        found = await _store(store.list(campaign, CallbackState(state) if state else None))
        if isinstance(found, web.Response):
            return found
        return web.json_response({"callbacks": [view(c) for c in found
                                                if allowed is None or c.request.campaign in allowed]})

    async def cancel(request: web.Request) -> web.StreamResponse:
        if (refused := is_supervisor(request)) is not None:
            return refused
        body = await _body(request)
        given = body.get("reason") if isinstance(body, dict) else None
        if given is not None and not isinstance(given, str):
            return _error(400, 'reason: expected {"reason": "<text>"}')
        reason = given[:200] if given else "cancelled by the supervisor"
        return await _changed(await _store(store.cancel(request.match_info["id"], reason)))

    async def reschedule(request: web.Request) -> web.StreamResponse:
        if (refused := is_supervisor(request)) is not None:
            return refused
        body = await _body(request)
        at = _moment(body.get("at") if isinstance(body, dict) else None)
        if at is None:
            return _error(400, 'expected {"at": "<ISO 8601 time with its offset>"}')
        return await _changed(await _store(store.reschedule(request.match_info["id"], at)))

    async def message(request: web.Request) -> web.StreamResponse:
        found = await _store(store.get(request.match_info["id"]))
        if isinstance(found, web.Response):
            return found
        if found is None or not found.request.message:
            return _error(404, "no message for that callback")
        try:
            audio = await recording(found.request.message)
        except (AriError, OSError) as exc:
            log.error("API: callback %s: message not read from Asterisk: %s", found.id, exc)
            return _error(503, "Asterisk did not give the message")
        return web.Response(body=audio, content_type="audio/wav")

    return [web.get("/api/callbacks", listing),
            web.get(f"/api/callbacks/{{id:{ID}}}/message", message),
            web.post(f"/api/callbacks/{{id:{ID}}}/cancel", cancel),
            web.post(f"/api/callbacks/{{id:{ID}}}/reschedule", reschedule)]


def view(callback: Callback) -> dict[str, Any]:
    request = callback.request
    return {"id": callback.id, "campaign": request.campaign, "number": request.number,
            "customer_id": request.customer_id, "state": callback.state.value, "attempts": callback.attempts,
            "max_attempts": callback.max_attempts, "arrived_at": request.arrived_at.isoformat(),
            "not_before": callback.not_before.isoformat(), "expires_at": callback.expires_at.isoformat(),
            "message": request.message, "reason": callback.reason}


async def _store(work: Any) -> Any:
    try:
        return await work
    except (SQLAlchemyError, OSError) as exc:
        log.error("API: callbacks: the database did not answer: %s", exc)
        return _error(503, "the database did not answer; nothing was changed")


async def _changed(result: Any) -> web.Response:
    if isinstance(result, web.Response):
        return result
    if result is None:
        return _error(409, "no pending callback with that id")
    return web.json_response(view(result))


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return parse_json(await request.read())
    except JsonInputError:
        return None


def _moment(value: object) -> datetime | None:
    """
    >>> _moment("2026-12-07T09:30:00+01:00").isoformat()
    '2026-12-07T08:30:00+00:00'
    >>> _moment("2026-12-07T09:30:00") is None
    True
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
