"""/metrics, /healthz and /readyz of `ivr run` against the real Asterisk: the counters move with
real calls, and readiness follows Asterisk going away and coming back."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.harness import App, Pbx, until
from tests.ports import free_port


def sample(text: str, name: str) -> float:
    """The sum of a metric's samples, whatever their labels, in a Prometheus exposition."""
    return sum(float(value) for value in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def metered(pbx: Pbx, folder: Path, env: dict[str, str] | None = None) -> tuple[App, Path, str]:
    """`ivr run` with its API on a port of its own: the app, its settings file, the API's base URL."""
    port = free_port()
    config = pbx.configured(folder, extra=f"\n[api]\nport = {port}\n")
    return App(pbx, folder / "app.log", config=config, env=env), config, f"http://127.0.0.1:{port}"


def scrape(pbx: Pbx, base: str) -> str:
    """/metrics, with the token the app generated."""
    token = (pbx.state_dir / "api" / "metrics-token").read_text().strip()
    response = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200, response.text
    return response.text


def in_the_app(pbx: Pbx) -> bool:
    return any(c["dialplan"]["app_name"] == "Stasis" for c in pbx.channels())


def readiness(base: str, status: int) -> httpx.Response | None:
    response = httpx.get(f"{base}/readyz", timeout=5)
    return response if response.status_code == status else None


def test_metrics_move_with_real_calls_and_readiness_follows_asterisk(pbx: Pbx, tmp_path: Path) -> None:
    app, config, base = metered(pbx, tmp_path)
    try:
        app.wait_connected(1)
        refused = httpx.get(f"{base}/metrics", timeout=5).status_code
        alive = httpx.get(f"{base}/healthz", timeout=5)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        before = scrape(pbx, base)
        for digits in ("55#", "66#"):
            pbx.call("100", "--dtmf", digits, config=config)
        after = until(lambda: next((text for text in [scrape(pbx, base)] if sample(text, "ivr_calls_total")
                                    == sample(before, "ivr_calls_total") + 2), None), 10, "two more calls counted")

        assert pbx.ivr("pbx", "down").returncode == 0
        gone = until(lambda: readiness(base, 503), 20, "readyz to turn 503")
        assert pbx.ivr("pbx", "up").returncode == 0
        app.wait_connected(2)
        back = until(lambda: readiness(base, 200), 20, "readyz to turn 200 again")
        reconnected = scrape(pbx, base)
    finally:
        app.stop()

    assert refused == 401
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "ari": True, "database": True})
    events = sample(after, "ivr_ari_event_delay_seconds_count") - sample(before, "ivr_ari_event_delay_seconds_count")
    requests = sample(after, "ivr_ari_requests_total") - sample(before, "ivr_ari_requests_total")
    print(f"\nper identification call: {events / 2:.1f} ARI events, {requests / 2:.1f} REST requests")
    assert events > 0 and requests > 0
    assert sample(after, "ivr_event_loop_lag_seconds_count") > 0
    assert sample(after, "ivr_calls_in_progress") == 0
    assert sample(after, "ivr_ari_connected") == 1
    assert gone.json() == {"ready": False, "ari": False, "database": True}
    assert back.json()["ready"] is True
    assert sample(reconnected, "ivr_ari_reconnects_total") == 1
    assert "ivr_agents" in after and 'ivr_campaign_waiting' in after


def test_beyond_the_admission_limit_a_call_goes_to_the_fallback_and_the_dialplan_sheds_callers_until_clear(
        pbx: Pbx, tmp_path: Path) -> None:
    """The second call is turned away by the app, which has the dialplan shed callers: once it
    sheds all of them the third passes the app by in the dialplan (no StasisStart), counted all
    the same; after the first call ends the share falls to none and the fourth is the app's."""
    app, config, base = metered(pbx, tmp_path, env={"IVR_ADMISSION__MAX_CALLS": "1"})
    try:
        app.wait_connected(1)
        with ThreadPoolExecutor(2) as calls:
            first = calls.submit(pbx.call, "100", "--timeout", "20", config=config)  # waits for digits
            until(lambda: in_the_app(pbx), 10, "the first call in the app")
            turned_away = pbx.call("100", "--timeout", "15", config=config)
            until(lambda: sample(scrape(pbx, base), "ivr_admission_shed_percent") == 100, 10,
                  "every new caller shed")
            passed_by = pbx.call("100", "--timeout", "15", config=config)
            served = first.result()
        until(lambda: "every caller let in again" in app.text(), 20, "the share to fall to none")
        after = pbx.call("100", "--dtmf", "55#", "--timeout", "15", config=config)
        scraped = scrape(pbx, base)
    finally:
        app.stop()

    assert any("ivr: fallback" in step for step in turned_away["dialplan"]), turned_away
    assert not any("ivr: fallback" in step for step in served["dialplan"]), served
    assert "turned away to the dialplan fallback: 1 calls in progress (admission.max_calls = 1)" in app.text()
    gated = [step for step in passed_by["dialplan"] if "ivr-stasis" in step or "ivr-fallback" in step]
    assert any("Set(STASISSTATUS=GATED)" in step for step in gated), passed_by
    assert not any("Stasis(" in step for step in gated), passed_by
    assert any("ivr: fallback" in step and "STASISSTATUS=GATED" in step for step in gated), passed_by
    assert app.text().count("turned away to the dialplan fallback") == 1
    assert not any("ivr: fallback" in step for step in after["dialplan"]), after
    assert sample(scraped, "ivr_calls_turned_away_total") == 2
    records = pbx.ivr("calls", "--json", "--limit", "5", config=config).stdout
    assert "turned away: 1 calls in progress" in records


def test_a_caller_beyond_the_call_rate_goes_to_the_fallback_and_the_next_after_the_pause_is_served(
        pbx: Pbx, tmp_path: Path) -> None:
    """admission.max_call_rate = 0.2: room for one call every 5 s. The second caller, right after
    the first, is turned away by the app to the fallback; the dialplan's gate sheds callers for a
    step, and lets them in again once none arrives beyond the rate; the third, 5 s later, is
    served."""
    app, config, base = metered(pbx, tmp_path, env={"IVR_ADMISSION__MAX_CALL_RATE": "0.2"})
    try:
        app.wait_connected(1)
        with ThreadPoolExecutor(2) as calls:
            first = calls.submit(pbx.call, "100", "--dtmf", "55#", "--timeout", "15", config=config)
            until(lambda: in_the_app(pbx), 10, "the first call in the app")
            beyond = pbx.call("100", "--timeout", "15", config=config)
            served = first.result()
        time.sleep(5)
        until(lambda: "every caller let in again" in app.text(), 10, "the gate open again")
        after = pbx.call("100", "--dtmf", "55#", "--timeout", "15", config=config)
        scraped = scrape(pbx, base)
    finally:
        app.stop()

    assert not any("ivr: fallback" in step for step in served["dialplan"]), served
    assert any("ivr: fallback" in step for step in beyond["dialplan"]), beyond
    assert not any("ivr: fallback" in step for step in after["dialplan"]), after
    assert re.search(r'^ivr_calls_turned_away_total\{limit="max_call_rate"\} 1\.0$', scraped, re.MULTILINE), scraped
    assert sample(scraped, "ivr_calls_turned_away_total") == 1
    assert app.text().count("turned away to the dialplan fallback: more than 0.2 calls a second "
                            "(admission.max_call_rate = 0.2)") == 1
    assert "dialplan gate: turning 90% of new callers away (max_call_rate)" in app.text()
