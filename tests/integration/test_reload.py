"""Reloading the flow file under a running `ivr run`: `ivr reload` and SIGHUP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.harness import REPO, App, Pbx, until
from tests.ports import free_port

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


AGENTS = """
[entry]
default = "campaign:sales"

[campaign.sales]
agents = [{members}]
{agents}"""

AGENT = """
[agent.{name}]
phone = "sip:{name}@127.0.0.1:5999"
ready_at_start = true
"""


def test_a_reload_brings_new_agents_and_lets_removed_ones_go(pbx: Pbx, tmp_path: Path) -> None:
    def flow(*names: str) -> str:
        return AGENTS.format(members=", ".join(f'"{n}"' for n in names),
                             agents="".join(AGENT.format(name=n) for n in names))

    port = free_port()
    config = pbx.configured(tmp_path, flow("ana", "bo"), f"\n[api]\nport = {port}\n")
    app = App(pbx, tmp_path / "app.log", config=config)
    try:
        app.wait_connected(1)
        (tmp_path / "flows.toml").write_text(flow("ana", "cy"))
        assert pbx.ivr("reload", config=config).returncode == 0
        until(lambda: "reload: agents added: cy; removed: bo" in app.text(), 10, "the agents reloaded")
        cy_token = (pbx.state_dir / "api" / "agent-cy-token").read_text().strip()
        api = f"http://127.0.0.1:{port}/api/agents"
        cy_sees = httpx.get(api, headers={"Authorization": f"Bearer {cy_token}"}, timeout=5).json()
        supervisor = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        everyone = httpx.get(api, headers={"Authorization": f"Bearer {supervisor}"}, timeout=5).json()
    finally:
        app.stop()

    assert [(a["id"], a["state"]) for a in cy_sees["agents"]] == [("cy", "ready")]
    assert sorted(a["id"] for a in everyone["agents"]) == ["ana", "cy"]
