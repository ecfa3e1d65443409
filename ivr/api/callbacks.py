"""The supervisors' view of callbacks: list them by campaign and state, cancel one, reschedule one.

    GET  /api/callbacks?campaign=sales&state=pending
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
from ivr.store.callbacks import CallbackStore

log = logging.getLogger("ivr.api")

ID = r"[0-9a-f]{1,32}"


def routes(store: CallbackStore, is_supervisor: Callable[[web.Request], web.Response | None],
           recording: Callable[[str], Awaitable[bytes]]) -> list[web.RouteDef]:
    """``is_supervisor(request)`` answers 403 (a response) for an agent's token, else None."""

    async def listing(request: web.Request) -> web.StreamResponse:
        if (refused := is_supervisor(request)) is not None:
            return refused
        state = request.query.get("state")
        if state is not None and state not in {s.value for s in CallbackState}:
            return _error(400, f"state: one of {', '.join(s.value for s in CallbackState)}")
        found = await _store(store.list(request.query.get("campaign"),
                                        CallbackState(state) if state else None))
        if isinstance(found, web.Response):
            return found
        return web.json_response({"callbacks": [view(c) for c in found]})

    async def cancel(request: web.Request) -> web.StreamResponse:
        if (refused := is_supervisor(request)) is not None:
            return refused
        body = await _body(request)
        given = body.get("reason") if isinstance(body, dict) else None
        reason = str(given)[:200] if given else "cancelled by the supervisor"
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
        return await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
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
