"""The agents' and supervisors' web page in a real browser (Debian's Chromium driven by
Playwright), against the real Asterisk with SIPp as the caller's and the agents' phones and a
real HTTP CRM.

IVR_WEB_SCREENSHOTS=<folder> keeps screenshots of the pages (docs/web-*.png come from here).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.integration.harness import App, Pbx, until
from tests.integration.sip_agents import SipAgent
from tests.ports import free_port

CHROMIUM = "/usr/bin/chromium"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_NOTE = '<img src=x onerror="alert(2)"><b>VIP</b>'

FLOW = """
[entry]
"501" = "identification:who"

[identification.who]
expected_length = 4
interaction = "destination"
url = "{crm}"
timeout = 5.0
on_not_identified = "campaign:sales"

[campaign.sales]
id = 1
agents = ["ana", "bo"]
strategy = "ordered"
ring_timeout = 10.0
max_wait = 30.0

[agent.ana]
name = "Ana Pérez"
phone = "{ana}"

[agent.bo]
phone = "{bo}"
"""


class Crm(BaseHTTPRequestHandler):
    """Customer 1234 goes to campaign 1 with variables, one of them HTML."""

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = {"status": "ok", "destination": "1,1", "variables": {"plan": "gold", "note": HOSTILE_NOTE}}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Site:
    def __init__(self, pbx: Pbx, folder: Path) -> None:
        self.crm = ThreadingHTTPServer(("127.0.0.1", 0), Crm)
        threading.Thread(target=self.crm.serve_forever, daemon=True).start()
        self.agents = {"ana": SipAgent("ana", "late", folder), "bo": SipAgent("bo", "answer", folder)}
        flow = FLOW.format(crm=f"http://127.0.0.1:{self.crm.server_address[1]}/identify",
                           ana=self.agents["ana"].phone, bo=self.agents["bo"].phone)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        settings = (f"\n[api]\nport = {port}\n"
                    f'\n[database]\nurl = "sqlite:///{folder / "ivr.sqlite3"}"\n'
                    '\n[agents]\ndisconnected_after = 2.0\npause_reasons = ["lunch", "training"]\n'
                    'crm_link = "https://crm.example/customers/{customer_id}"\n')
        self.config = pbx.configured(folder, flow, settings)
        result = pbx.ivr("pbx", "up", config=self.config)
        assert result.returncode == 0, result.stderr
        self.app = App(pbx, folder / "app.log", config=self.config)
        self.app.wait_connected(1)
        tokens = pbx.state_dir / "api"
        self.tokens = {name: (tokens / f"agent-{name}-token").read_text().strip() for name in ("ana", "bo")}
        self.supervisor = (tokens / "supervisor-token").read_text().strip()

    def agent(self, name: str) -> dict[str, Any]:
        found = httpx.get(f"{self.url}/api/agents", headers={"Authorization": f"Bearer {self.supervisor}"},
                          timeout=5).json()["agents"]
        return next(a for a in found if a["id"] == name)

    def close(self) -> None:
        self.app.stop()
        self.crm.shutdown()
        self.crm.server_close()
        for agent in self.agents.values():
            agent.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def site(pbx: Pbx, tmp_path: Path) -> Iterator[Site]:
    made = Site(pbx, tmp_path)
    try:
        yield made
    finally:
        made.close()


DIALOGS: dict[Page, list[str]] = {}
"""What each page's script put in an alert: nothing, or text from outside ran as code."""


def signed_in(browser: Browser, site: Site, who: str, secret: str,
              phone: bool = False) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844} if phone else None)
    page = context.new_page()
    dialogs = DIALOGS.setdefault(page, [])
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(site.url + "/")
    page.fill("input[name=who]", who)
    page.fill("input[name=secret]", secret)
    page.click("button[type=submit]")
    expect(page.locator("#link")).to_have_text("connected")
    return context, page


def screenshot(page: Page, name: str) -> None:
    if folder := os.environ.get("IVR_WEB_SCREENSHOTS"):
        page.screenshot(path=str(Path(folder) / f"web-{name}.png"), full_page=True)


def test_the_screen_pop_is_on_the_agents_page_before_the_phone_is_answered_and_shows_outside_text_as_text(
        pbx: Pbx, site: Site, browser: Browser) -> None:
    _, ana = signed_in(browser, site, "ana", site.tokens["ana"], phone=True)
    ana.click("#login")
    expect(ana.locator("#state")).to_have_text("ready")
    ana.evaluate("""() => {
        window.poppedAt = null;
        new MutationObserver(() => {
            if (!document.getElementById("pop").hidden && window.poppedAt === null) window.poppedAt = Date.now();
        }).observe(document.getElementById("pop"), {attributes: true});
    }""")

    reports: list[dict[str, Any]] = []
    caller = threading.Thread(target=lambda: reports.append(pbx.call(
        "501", "--dtmf", "1234", "--caller-id", f'"{HOSTILE_NAME}" <600>', "--timeout", "8", config=site.config)))
    caller.start()
    try:
        expect(ana.locator("#pop")).to_be_visible(timeout=15_000)
        ringing = ana.locator("#state").text_content()
        leg = until(lambda: next((c for c in pbx.channels() if "-agent-" in c["id"]), None), 5, "ana's leg")
        expect(ana.locator("#state")).to_have_text("on-call", timeout=10_000)
        screenshot(ana, "agent-pop")
    finally:
        caller.join(30)

    rung_at = datetime.strptime(leg["creationtime"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000
    popped_after = ana.evaluate("() => window.poppedAt") - rung_at
    print(f"\nring to screen pop: {popped_after:.0f} ms")
    assert ringing == "ringing"
    assert ana.locator("#pop-customer").text_content() == "1234"
    assert ana.locator("#pop-campaign").text_content() == "sales"
    assert HOSTILE_NAME in (ana.locator("#pop-caller").text_content() or "")
    variables = dict(zip(ana.locator("#pop-variables td:nth-child(1)").all_text_contents(),
                         ana.locator("#pop-variables td:nth-child(2)").all_text_contents(), strict=True))
    assert variables == {"plan": "gold", "note": HOSTILE_NOTE}
    assert ana.locator("#pop-variables img, #pop-variables b, #pop script").count() == 0
    assert ana.locator("#pop-crm").get_attribute("href") == "https://crm.example/customers/1234"
    assert DIALOGS[ana] == []
    assert reports and reports[0]["variables"]["IVR_AGENT"] == "ana", reports
    expect(ana.locator("#calls tbody tr")).to_have_count(1, timeout=10_000)


def test_a_pause_shows_on_the_supervisors_page_and_a_closed_page_pauses_its_agent(
        site: Site, browser: Browser) -> None:
    _, boss = signed_in(browser, site, "supervisor", site.supervisor)
    ana_context, ana = signed_in(browser, site, "ana", site.tokens["ana"])
    ana.click("#login")
    row = boss.locator('#agents tr[data-agent="ana"] td.state')
    expect(row).to_have_text("ready")
    expect(boss.locator('#wallboard tr[data-campaign="sales"]')).to_be_visible()

    ana.select_option("#pause-reason", "training")
    clicked = time.monotonic()
    ana.click("#pause")
    expect(row).to_have_text("paused (training)", timeout=5_000)
    print(f"\npause to the supervisor's page: {1000 * (time.monotonic() - clicked):.0f} ms")
    screenshot(boss, "supervisor")
    ana.click("#ready")
    expect(row).to_have_text("ready")

    ana_context.close()
    closed = time.monotonic()
    expect(row).to_have_text("paused (disconnected)", timeout=10_000)
    print(f"page closed to paused 'disconnected' (limit 2 s): {time.monotonic() - closed:.1f} s")
    assert (site.agent("ana")["state"], site.agent("ana")["reason"]) == ("paused", "disconnected")


def test_an_agents_session_changes_nobody_else_and_nothing_without_its_csrf_token(
        site: Site, browser: Browser) -> None:
    context, ana = signed_in(browser, site, "ana", site.tokens["ana"])
    csrf = ana.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf

    other = context.request.post(f"{site.url}/api/agents/bo/login", headers={"X-CSRF-Token": csrf})
    forged = context.request.post(f"{site.url}/api/agents/ana/login")
    own = context.request.post(f"{site.url}/api/agents/ana/login", headers={"X-CSRF-Token": csrf})

    assert (other.status, other.json()) == (403, {"error": "an agent acts for itself only"})
    assert forged.status == 403
    assert own.status == 200
    assert site.agent("bo")["state"] == "logged-out" and site.agent("ana")["state"] == "ready"
    assert "script-src 'self'" in ana.context.request.get(site.url + "/agent").headers["content-security-policy"]
