"""Reloading the flow file under a running `ivr run`: `ivr reload` and SIGHUP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import REPO, App, Pbx, until

FLOW = """
[entry]
default = "message:{name}"

[message.{name}]
prompt = ["sound:ivr/enter-customer-id", "sound:ivr/thank-you-goodbye"]
"""


def test_an_invalid_flow_is_refused_and_the_old_one_keeps_serving(pbx: Pbx, tmp_path: Path) -> None:
    config = pbx.configured(tmp_path, FLOW.format(name="old"))
    app = App(pbx, tmp_path / "app.log", config=config)
    try:
        app.wait_connected(1)
        (tmp_path / "flows.toml").write_text(FLOW.format(name="new") + 'colour = "red"\n')
        refused = pbx.ivr("reload", config=config)
        app.process.send_signal(signal.SIGHUP)
        until(lambda: "still serving the previous flow" in app.text(), 10, "the reload to be refused")
        report = pbx.call("100", config=config)
    finally:
        app.stop()

    assert refused.returncode == 2
    assert "flows.toml:7: [message.new] colour: unknown field (misspelt?)" in refused.stderr
    assert "[message.new] colour: unknown field" in app.text()
    assert report["variables"]["IVR_ENTRY"] == "message:old"
    assert report["hangup_cause"] == 16


def test_a_call_in_progress_survives_a_valid_reload_and_new_calls_get_the_new_flow(
        pbx: Pbx, tmp_path: Path) -> None:
    config = pbx.configured(tmp_path, FLOW.format(name="old"))
    app = App(pbx, tmp_path / "app.log", config=config)
    try:
        app.wait_connected(1)
        in_progress = subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(config), "call", "100", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        until(lambda: pbx.ari("GET", "/applications/ivr")["channel_ids"], 10, "the call in the app")
        (tmp_path / "flows.toml").write_text(FLOW.format(name="new"))
        reloaded = pbx.ivr("reload", config=config)
        until(lambda: "reload: new calls get the flow" in app.text(), 10, "the reload")
        old = json.loads(in_progress.communicate(timeout=30)[0])
        new = pbx.call("100", config=config)
    finally:
        app.stop()

    assert reloaded.returncode == 0, reloaded.stderr
    assert old["variables"]["IVR_ENTRY"] == "message:old"
    assert old["prompts"] == ["sound:ivr/enter-customer-id", "sound:ivr/thank-you-goodbye"]
    assert old["hangup_cause"] == 16 and not old["timed_out"]
    assert new["variables"]["IVR_ENTRY"] == "message:new"


def test_run_refuses_to_start_on_an_invalid_flow(pbx: Pbx, tmp_path: Path) -> None:
    config = pbx.configured(tmp_path, '[entry]\ndefault = "menu:nowhere"\n')

    result = pbx.ivr("run", config=config, timeout=30)

    assert result.returncode == 2
    assert "flows.toml:2: [entry] default: no node menu:nowhere in this file" in result.stderr
