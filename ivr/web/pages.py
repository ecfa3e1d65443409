"""The agents' and supervisors' web page, served by `ivr run` on the API's address.

Sign-in takes an agent's id (or ``supervisor``) with its API token or the password the admin set
(`ivr password`), and gives a session cookie (HttpOnly, SameSite=Strict). The pages are static
HTML and one script each; everything they show comes from the JSON API (ivr.api.server), read
with the cookie, and is put in the page as text, never as HTML.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from aiohttp import web

from ivr.api.auth import SUPERVISOR
from ivr.api.server import Api
from ivr.web import passwords
from ivr.web.sessions import COOKIE, Session

log = logging.getLogger("ivr.web")

STATIC = files("ivr.web") / "static"
ASSETS = {"style.css": "text/css", "page.js": "text/javascript", "agent.js": "text/javascript",
          "supervisor.js": "text/javascript"}
PAGES = {"agent": "Agent", "supervisor": "Supervisor"}


class Pages:
    def __init__(self, api: Api, folder: Path, secure_cookie: Callable[[web.Request], bool]) -> None:
        """``folder``: where the tokens and passwords are (``<state_dir>/api``)."""
        self.api = api
        self.folder = folder
        self.secure_cookie = secure_cookie

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.home), web.get("/sign-in", self.sign_in_form),
                web.post("/sign-in", self.sign_in), web.post("/sign-out", self.sign_out),
                web.get("/agent", self.page), web.get("/supervisor", self.page),
                web.get("/static/{name}", self.asset)]

    def _session(self, request: web.Request) -> tuple[str, Session] | None:
        session_id = request.cookies.get(COOKIE, "")
        session = self.api.sessions.of(session_id)
        return None if session is None else (session_id, session)

    async def home(self, request: web.Request) -> web.StreamResponse:
        found = self._session(request)
        if found is None:
            raise web.HTTPSeeOther("/sign-in")
        raise web.HTTPSeeOther("/supervisor" if found[1].who == SUPERVISOR else "/agent")

    async def sign_in_form(self, request: web.Request) -> web.Response:
        return _page("sign-in", SIGN_IN.format(message=html.escape(request.query.get("m", "")[:120])))

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        address = request.remote or "?"
        if (wait := self.api.wrong.retry_after(address)) is not None:
            message = f"Too many wrong attempts: try again in {wait} s."
            return _page("sign-in", SIGN_IN.format(message=message), status=429,
                         headers={"Retry-After": str(wait)})
        form = await request.post()
        name, secret = str(form.get("who", "")).strip(), str(form.get("secret", ""))
        who = SUPERVISOR if name == "supervisor" else name
        if not await self._proves(who, secret):
            self.api.wrong.failed(address)
            log.warning("web: a failed sign-in as %r from %s", name[:40], address)
            return _page("sign-in", SIGN_IN.format(message="Wrong name or password."), status=401)
        session_id, _ = self.api.sessions.open(who)
        log.info("web: %s signed in from %s", name, address)
        response = web.HTTPSeeOther("/supervisor" if who == SUPERVISOR else "/agent")
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/",
                            secure=self.secure_cookie(request), max_age=int(self.api.options.session_seconds))
        raise response

    async def _proves(self, who: str, secret: str) -> bool:
        if not secret or (who != SUPERVISOR and who not in self.api.board.agents):
            return False
        if self.api.who_has(secret) == who:
            return True
        return await asyncio.to_thread(passwords.check, self.folder, who, secret)

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        found = self._session(request)
        form = await request.post()
        if found is not None and found[1].csrf_matches(str(form.get("csrf", ""))):
            self.api.sessions.close(found[0])
        response = web.HTTPSeeOther("/sign-in")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def page(self, request: web.Request) -> web.StreamResponse:
        kind = request.path.strip("/")
        found = self._session(request)
        if found is None:
            raise web.HTTPSeeOther("/sign-in")
        session = found[1]
        if (kind == "supervisor") != (session.who == SUPERVISOR):
            raise web.HTTPSeeOther("/")
        return _page(kind, PAGE.format(kind=kind, title=PAGES[kind], csrf=html.escape(session.csrf),
                                       body=AGENT if kind == "agent" else SUPERVISOR_BODY))

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(body=(STATIC / name).read_bytes(), content_type=ASSETS[name],
                            headers={"Cache-Control": "no-cache"})


def _page(kind: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store", **(headers or {})})


HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ivr</title>
<link rel="stylesheet" href="/static/style.css">
"""

SIGN_IN = HEAD.format(title="Sign in") + """</head>
<body class="sign-in">
<main>
<h1>Sign in</h1>
<p class="message" role="alert">{message}</p>
<form method="post" action="/sign-in">
<label>Agent id, or <em>supervisor</em> <input name="who" autocomplete="username" required autofocus></label>
<label>Password or API token
<input name="secret" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"""

PAGE = HEAD + """<meta name="csrf-token" content="{csrf}">
<script src="/static/page.js" defer></script>
<script src="/static/{kind}.js" defer></script>
</head>
<body class="{kind}">
<header>
<h1 id="who">{title}</h1>
<span id="link" class="link" title="connection to the server">connecting</span>
<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="quiet">Sign out</button></form>
</header>
<p id="problem" class="problem" role="alert" hidden></p>
{body}
</body>
</html>
"""

AGENT = """<main>
<section id="state-panel">
<p><span id="state" class="state">…</span> <span id="reason"></span>
<span id="timer" class="timer"></span></p>
<div class="buttons">
<button id="login" type="button">Log in</button>
<button id="ready" type="button">Ready</button>
<select id="pause-reason" aria-label="pause reason"></select>
<button id="pause" type="button">Pause</button>
<button id="logout" type="button" class="quiet">Log out</button>
</div>
</section>
<section id="pop" hidden>
<h2>Incoming call <span id="own" class="badge" hidden>your own customer</span></h2>
<dl>
<dt>Caller</dt><dd id="pop-caller"></dd>
<dt>Number dialled</dt><dd id="pop-did"></dd>
<dt>Campaign</dt><dd id="pop-campaign"></dd>
<dt>Customer</dt><dd id="pop-customer"></dd>
</dl>
<table id="pop-variables"><caption>From the CRM</caption><tbody></tbody></table>
<p><a id="pop-crm" target="_blank" rel="noopener noreferrer" hidden>Open in the CRM</a></p>
<div id="pop-message" hidden><p>The caller's message:</p><audio controls preload="none"></audio></div>
</section>
<section id="pulled-panel" hidden>
<h2>Open calls to take</h2>
<table id="pulled"><thead><tr><th>Campaign</th><th>Caller</th><th>Waiting</th><th></th></tr></thead>
<tbody></tbody></table>
</section>
<section id="callbacks-panel" hidden>
<h2>Callbacks to make</h2>
<table id="callbacks"><thead><tr><th>Number</th><th>Campaign</th><th>Due</th><th>Message</th></tr></thead>
<tbody></tbody></table>
</section>
<section>
<h2>Your calls today</h2>
<table id="calls"><thead><tr><th>Time</th><th>Caller</th><th>Customer</th><th>Outcome</th></tr></thead>
<tbody></tbody></table>
</section>
</main>
"""

SUPERVISOR_BODY = """<main>
<section>
<h2>Campaigns today</h2>
<table id="wallboard"><thead><tr><th>Campaign</th><th>Waiting</th><th>Longest wait</th><th>Answered</th>
<th>Abandoned</th><th>Service level</th></tr></thead><tbody></tbody></table>
</section>
<section>
<h2>Agents</h2>
<p class="buttons"><select id="force-reason" aria-label="pause reason"></select></p>
<table id="agents"><thead><tr><th>Agent</th><th>State</th><th>For</th><th>Page</th><th></th></tr></thead>
<tbody></tbody></table>
</section>
<section id="callbacks-panel" hidden>
<h2>Pending callbacks</h2>
<table id="callbacks"><thead><tr><th>Number</th><th>Campaign</th><th>Due</th><th>Message</th><th></th></tr>
</thead><tbody></tbody></table>
</section>
</main>
"""
