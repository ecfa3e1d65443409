"""Who is asking the agents' API, and the headers every answer of it carries.

Two ways in: a bearer token (scripts, the CRM side, Prometheus), or the session cookie of the web
page (ivr.web), whose changes also carry the session's CSRF token. Tokens are generated on first
start into the state folder (mode 0600): ``api/supervisor-token`` acts on every agent,
``api/agent-<name>-token`` on that agent only. Wrong tokens are limited per address (429).
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ivr.secrets import ensure_secret
from ivr.web.sessions import COOKIE, CSRF_HEADER, Sessions, WrongSecrets

log = logging.getLogger("ivr.api")

SUPERVISOR = "*"
WHO = web.RequestKey("who", str)
"""An agent's id, or ``*``: whom the token or the session stands for."""
PAGE = web.RequestKey("page", bool)
"""Whether the request came from the web page (its session cookie)."""
OPEN_PATHS = ("/sms/", "/control/")
"""SMS gateways prove themselves with the inbound secret (ivr.sms.routes), backends with the
call's control token (ivr.api.control)."""
CHANGES = frozenset({"POST", "PUT", "DELETE", "PATCH"})
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "media-src 'self'; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def tokens(folder: Path, agents: list[str]) -> dict[str, str]:
    """Token -> who it is: an agent's name, or ``*`` for the supervisor."""
    found = {ensure_secret(folder / "supervisor-token"): SUPERVISOR}
    for agent in agents:
        found[ensure_secret(folder / f"agent-{agent}-token")] = agent
    return found


def who_has(known: dict[str, str], token: str) -> str | None:
    """Whom ``token`` stands for (compared in constant time), or None, for an empty one too.

    >>> who_has({"s3cret": "ana"}, "s3cret"), who_has({"s3cret": "ana"}, "guess"), who_has({"": "x"}, "")
    ('ana', None, None)
    """
    return next((name for secret, name in known.items()
                 if token and hmac.compare_digest(secret, token)), None)


def bearer(request: web.Request) -> str:
    """The token of the ``Authorization: Bearer <token>`` header; "" without it or with another
    scheme."""
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""


def too_many_wrong(wrong: WrongSecrets, request: web.Request) -> web.Response | None:
    """The 429 for an address that sent too many wrong secrets lately, whatever it sends now."""
    address = request.remote or "?"
    if (wait := wrong.retry_after(address)) is None:
        return None
    return error(429, f"too many wrong tokens from {address}; try again in {wait} s",
                 headers={"Retry-After": str(wait)})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The API's refusals and errors: ``{"error": message}``."""
    return web.json_response({"error": message}, status=status, headers=headers)


def security_headers(refused: Counter[int]) -> Middleware:
    """Adds SECURITY_HEADERS to every answer not yet sent (errors raised too), and counts the
    answers of 400 and above in ``refused`` by status (a metric)."""

    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            if exc.status >= 400:
                refused[exc.status] += 1
            raise
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        if response.status >= 400:
            refused[response.status] += 1
        return response

    return add_headers


def authenticate(who_has: Callable[[str], str | None], sessions: Sessions,
                 wrong: WrongSecrets) -> Middleware:
    """Lets a request to ``/api/`` in with a known bearer token or a session (and, for a change,
    its CSRF token), and sets WHO and PAGE on it; wrong tokens count against the address."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(OPEN_PATHS) or not request.path.startswith("/api/"):
            # The pages sign in and check their session themselves (ivr.web.pages).
            return await handler(request)
        if (refusal := too_many_wrong(wrong, request)) is not None:
            return refusal
        if request.headers.get("Authorization", ""):
            who = who_has(bearer(request))
            if who is None:
                address = request.remote or "?"
                wrong.failed(address)
                log.warning("API: a wrong token from %s", address)
                return error(401, "a valid 'Authorization: Bearer <token>' header is required")
            request[WHO], request[PAGE] = who, False
            return await handler(request)
        session = sessions.of(request.cookies.get(COOKIE, ""))
        if session is None:
            return error(401, "sign in at / or send 'Authorization: Bearer <token>'")
        if request.method in CHANGES and not session.csrf_matches(request.headers.get(CSRF_HEADER, "")):
            return error(403, f"a change from the page needs its {CSRF_HEADER} header")
        request[WHO], request[PAGE] = session.who, True
        return await handler(request)

    return check
