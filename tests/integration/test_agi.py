"""`ivr agi`: the identification node run from a classic dialplan over FastAGI."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import App, Pbx, until

FLOW = """
[entry]
default = "identification:demo"

[identification.demo]
expected_length = 4
attempts = 1
timeout = 2.0
on_identified = "campaign:gold"
on_not_identified = "hangup"

[campaign.gold]
id = 1
"""


@pytest.fixture
def agi(pbx: Pbx, tmp_path: Path) -> Iterator[App]:
    server = App(pbx, tmp_path / "agi.log", command="agi", config=pbx.configured(tmp_path, FLOW))
    try:
        until(lambda: "FastAGI: serving" in server.text(), 15, f"ivr agi to listen: {server.text()}")
        yield server
    finally:
        server.stop()


def test_the_dialplan_runs_the_identification_node_and_branches_on_its_variables(
        pbx: Pbx, agi: App) -> None:
    report = pbx.call("300", "--dtmf", "wwww1234", "--send-at", "answer", "--context", "ivr-agi-example")

    variables = report["variables"]
    assert variables["IVR_RESULT"] == "identified", agi.text()
    assert variables["IVR_CUSTOMER_ID"] == "1234"
    assert variables["IVR_DESTINATION"] == "campaign:gold"
    assert variables["IVR_DESTINATION_TYPE"] == "1"
    assert variables["IVR_DESTINATION_ID"] == "1"
    assert any("identified customer 1234, to campaign:gold" in step for step in report["dialplan"])
    assert report["hangup_cause"] == 16


def test_no_entry_over_agi_is_not_identified(pbx: Pbx, agi: App) -> None:
    report = pbx.call("300", "--context", "ivr-agi-example")

    assert report["variables"]["IVR_RESULT"] == "not-identified"
    assert report["variables"]["IVR_DESTINATION"] == "hangup"
    assert any("Playback(ivr/thank-you-goodbye)" in step for step in report["dialplan"])


def test_an_unknown_node_sets_an_error_the_dialplan_can_see(pbx: Pbx, tmp_path: Path) -> None:
    flow = "[entry]\ndefault = \"hangup\"\n"
    server = App(pbx, tmp_path / "agi.log", command="agi", config=pbx.configured(tmp_path, flow))
    try:
        until(lambda: "FastAGI: serving" in server.text(), 15, "ivr agi to listen")
        report = pbx.call("300", "--context", "ivr-agi-example")
    finally:
        server.stop()

    assert report["variables"]["IVR_RESULT"] == "error"
    assert "no identification node 'demo'" in report["variables"]["IVR_ERROR"]
    assert report["hangup_cause"] == 16


def test_a_sighup_gives_new_calls_the_new_flow(pbx: Pbx, tmp_path: Path) -> None:
    config = pbx.configured(tmp_path, "[entry]\ndefault = \"hangup\"\n")
    server = App(pbx, tmp_path / "agi.log", command="agi", config=config)
    try:
        until(lambda: "FastAGI: serving" in server.text(), 15, f"ivr agi to listen: {server.text()}")
        (tmp_path / "flows.toml").write_text(FLOW)
        server.process.send_signal(signal.SIGHUP)
        until(lambda: "reload: new calls get the flow" in server.text(), 10, f"the reload: {server.text()}")
        report = pbx.call("300", "--dtmf", "wwww1234", "--send-at", "answer", "--context", "ivr-agi-example")
    finally:
        server.stop()

    assert report["variables"]["IVR_RESULT"] == "identified", server.text()
