"""Calls through the real Asterisk into the running app, placed with `ivr call`."""

from __future__ import annotations

from tests.integration.harness import App, Pbx


def test_call_is_answered_prompted_and_its_digits_reach_the_app(pbx: Pbx, app: App) -> None:
    report = pbx.call("100", "--dtmf", "1234#")

    assert report["answered"] and not report["timed_out"]
    assert report["prompts"] == ["sound:ivr/enter-customer-id", "sound:ivr/thank-you-goodbye"]
    assert report["digits_received"] == "1234#"
    assert report["variables"] == {"IVR_DID": "100", "IVR_ENTRY": "identification:demo",
                                   "IVR_CUSTOMER_ID": "1234", "IVR_RESULT": "identified",
                                   "IVR_DESTINATION": "message:thanks", "IVR_DESTINATION_TYPE": "message",
                                   "IVR_DESTINATION_ID": ""}
    assert report["hangup_cause"] == 16


def test_digits_pressed_during_the_prompt_stop_it_and_count(pbx: Pbx, app: App) -> None:
    report = pbx.call("100", "--dtmf", "987#", "--send-at", "prompt-start")

    assert report["variables"]["IVR_CUSTOMER_ID"] == "987"
    assert report["prompts"][0] == "sound:ivr/enter-customer-id"


def test_no_input_ends_by_timeout_without_a_customer(pbx: Pbx, app: App) -> None:
    report = pbx.call("100")

    assert report["variables"]["IVR_RESULT"] == "not-identified"
    assert "IVR_CUSTOMER_ID" not in report["variables"]


def test_input_stops_at_the_maximum_length(pbx: Pbx, app: App) -> None:
    report = pbx.call("100", "--dtmf", "12345678901234")

    assert report["variables"]["IVR_CUSTOMER_ID"] == "1234567890"


def test_a_call_reaches_the_dialplan_fallback_when_the_app_is_stopped(pbx: Pbx) -> None:
    report = pbx.call("100")

    assert report["answered"]
    assert report["variables"] == {"IVR_DID": "100", "IVR_ROUTE": "fallback"}
    assert any("STASISSTATUS=FAILED" in step for step in report["dialplan"])
    assert report["dialplan"][-1].endswith("Hangup()")


def test_calls_are_served_side_by_side(pbx: Pbx, app: App) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda d: pbx.call("100", "--dtmf", d), ["11#", "22#", "33#", "44#"]))

    assert sorted(r["variables"]["IVR_CUSTOMER_ID"] for r in reports) == ["11", "22", "33", "44"]
