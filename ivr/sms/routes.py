"""The routes gateways call with the SMS staff send: Kannel's get-url and a provider's webhook.

    GET  /sms/kannel?secret=...&from=...&to=...&text=...   Kannel's sms-service get-url
    POST /sms/inbound                                      a provider's webhook, signed

They prove themselves with the inbound secret, not with the API's bearer tokens. A handled SMS is
answered 200 with an empty body: Kannel and some providers send a reply's body back as an SMS.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ivr.settings import HttpProviderSettings
from ivr.sms.gateway import InboundInvalid, InboundRefused, InboundSms
from ivr.sms.http_provider import read_http
from ivr.sms.kannel import read_kannel

log = logging.getLogger("ivr.sms")

OnSms = Callable[[InboundSms], Awaitable[None]]


def routes(on_sms: OnSms, kannel_secret: str | None, http_inbound: HttpProviderSettings | None,
           secret: str) -> list[web.RouteDef]:
    """``/sms/kannel`` when ``kannel_secret`` is given, ``/sms/inbound`` (signed with ``secret``)
    when ``http_inbound`` is."""
    found = []
    if kannel_secret is not None:
        found.append(_kannel(on_sms, kannel_secret))
    if http_inbound is not None:
        found.append(_inbound(on_sms, http_inbound, secret))
    return found


def _kannel(on_sms: OnSms, secret: str) -> web.RouteDef:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _handle(request, lambda: read_kannel(request.rel_url.raw_query_string, secret), on_sms)

    return web.get("/sms/kannel", handler, allow_head=False)


def _inbound(on_sms: OnSms, settings: HttpProviderSettings, secret: str) -> web.RouteDef:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        return await _handle(
            request, lambda: read_http(request.headers, body, request.content_type, settings, secret), on_sms)

    return web.post("/sms/inbound", handler)


async def _handle(request: web.Request, read: Callable[[], InboundSms], on_sms: OnSms) -> web.Response:
    try:
        sms = read()
    except InboundRefused as exc:
        return _refused(request, 403, str(exc))
    except InboundInvalid as exc:
        return _refused(request, 400, str(exc))
    try:
        await on_sms(sms)
    except Exception:
        log.exception("SMS %s: handling it failed", request.path)
        return web.json_response({"error": "the SMS could not be handled"}, status=500)
    return web.Response(status=200)


def _refused(request: web.Request, status: int, message: str) -> web.Response:
    log.warning("SMS %s from %s refused: %s", request.path, request.remote, message)
    return web.json_response({"error": message}, status=status)
