"""Destinations that hand the call to the dialplan, and the menu and time nodes, on the real
Asterisk: each reaches the context and application the flow file promises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import App, Pbx

FLOW = """
[entry]
"400" = "voicemail:front"
"401" = "external:boss"
"402" = "menu:main"
"403" = "time:office"

[voicemail.front]
box = "100@ivr"

[trunk.provider]
dial = "Local/{number}@ivr-fallback"
allow = ["+3491*"]

[external.boss]
trunk = "provider"
number = "+34911234567"

[menu.main]
prompt = ["sound:beep"]
options = { "1" = "dialplan:custom", "2" = "hangup:busy" }
timeout = 1.0
attempts = 1
on_failure = "hangup"

[dialplan.custom]
context = "ivr-fallback"
exten = "s"

[hangup.busy]
cause = "busy"

[time.office]
timezone = "UTC"
open = ["always"]
on_match = "message:open"
otherwise = "hangup"

[[timegroup.always]]
days = "mon-sun"

[message.open]
prompt = ["sound:beep"]
"""


@pytest.fixture(scope="module")
def flow_app(pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("destinations")
    app = App(pbx, folder / "app.log", config=pbx.configured(folder, FLOW))
    try:
        app.wait_connected(1)
        yield app
    finally:
        app.stop()


def steps(report: dict[str, object]) -> str:
    return "\n".join(report["dialplan"])  # type: ignore[arg-type]


def test_voicemail_reaches_the_box(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call("400", "--timeout", "6")

    assert "ivr-voicemail,s,2 VoiceMail(100@ivr,u)" in steps(report)


def test_an_external_number_is_dialled_through_its_trunk(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call("401")

    assert "ivr-dial,s,2 Dial(Local/+34911234567@ivr-fallback,45)" in steps(report)
    assert report["variables"]["IVR_DIAL"] == "Local/+34911234567@ivr-fallback"


def test_menu_keys_lead_to_their_destinations(pbx: Pbx, flow_app: App) -> None:
    custom = pbx.call("402", "--dtmf", "1", "--send-at", "prompt-start")
    busy = pbx.call("402", "--dtmf", "2", "--send-at", "prompt-start")
    nothing = pbx.call("402")

    assert "ivr-fallback,s,1 " in steps(custom)
    assert busy["hangup_cause"] == 17
    assert nothing["hangup_cause"] == 16 and "ivr-fallback" not in steps(nothing)


def test_a_time_condition_routes_by_the_clock(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call("403")

    assert report["prompts"] == ["sound:beep"]
    assert report["hangup_cause"] == 16
