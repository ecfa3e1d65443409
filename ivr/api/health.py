"""Is `ivr run` alive, is it ready, and its metrics: ``/healthz`` and ``/readyz`` answer anyone
(a load balancer, a container's health check), ``/metrics`` the supervisor token or the
metrics token (``<state_dir>/api/metrics-token``, for Prometheus' ``authorization``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.api.auth import SUPERVISOR, bearer, error, too_many_wrong, who_has
from ivr.api.server import Api
from ivr.metrics import Metrics

log = logging.getLogger("ivr.api")

READY_TIMEOUT = 2.0
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def routes(api: Api, metrics: Metrics, metrics_token: str, ari_connected: Callable[[], bool],
           engine: AsyncEngine) -> list[web.RouteDef]:

    async def alive(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(request: web.Request) -> web.Response:
        checks = {"ari": ari_connected(), "database": await _answers(engine)}
        ok = all(checks.values())
        return web.json_response({"ready": ok, **checks}, status=200 if ok else 503)

    async def exposition(request: web.Request) -> web.Response:
        if (refusal := too_many_wrong(api.wrong, request)) is not None:
            return refusal
        given = bearer(request)
        # The metrics token counts as the supervisor's here, and only here.
        if SUPERVISOR not in (who_has({metrics_token: SUPERVISOR}, given), api.who_has(given)):
            api.wrong.failed(request.remote or "?")
            return error(401, "/metrics needs 'Authorization: Bearer <metrics or supervisor token>'")
        # In the loop, not a thread: the gauges read the live state as it is between two events.
        return web.Response(body=metrics.exposition(), headers={"Content-Type": PROMETHEUS})

    return [web.get("/healthz", alive), web.get("/readyz", ready), web.get("/metrics", exposition)]


async def _answers(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(READY_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the answer is "not ready"
        log.warning("readyz: the database did not answer: %s: %s", type(exc).__name__, exc)
        return False
    return True
