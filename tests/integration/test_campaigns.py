"""App-run campaigns against the real Asterisk, with agents that are real SIP user agents
(SIPp in server mode) answering, refusing or ringing out."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import PROVIDER, Behaviour, SipAgent
from tests.ports import free_port
from tests.unit.fake_crm import CrmHandler, FakeCrm

FLOW = """
[entry]
"500" = "campaign:sales"
"501" = "identification:who"

[identification.who]
expected_length = 4
interaction = "destination"
url = "{crm}/dest"
on_not_identified = "campaign:sales"

[campaign.sales]
id = 1
agents = ["ana", "bo"]
strategy = "{strategy}"
skills = {{ billing = 2 }}
ring_timeout = {ring_timeout}
max_wait = {max_wait}
on_max_wait = "message:sorry"
{campaign_extra}

[message.sorry]
prompt = ["sound:beep"]

[agent.ana]
phone = "{ana}"
cost = 30.0
weight = 1
skills = {{ billing = 1 }}

[agent.bo]
phone = "{bo}"
email = "bo@example.com"
{spare}
cost = 10.0
weight = 1000
skills = {{ billing = 3 }}
"""

SPARE = """
[agent.cy]
phone = "{phone}"
ready_at_start = true
"""


class Setup:
    def __init__(self, pbx: Pbx, folder: Path, ana: Behaviour, bo: Behaviour, strategy: str = "ordered",
                 max_wait: float = 20.0, calls: int = 1, team: str = "", campaign_extra: str = "",
                 settings: str = "", ana_phone: str = "", spare: Behaviour | None = None,
                 ring_timeout: float = 3.0) -> None:
        # Each call takes up to 7 s, and the agents start before Asterisk's reload and the app.
        seconds = 60 + 8 * calls
        self.agents = {"ana": SipAgent("ana", ana, folder, calls, seconds),
                       "bo": SipAgent("bo", bo, folder, calls, seconds)}
        spare_agent = ""
        if spare is not None:
            self.agents["cy"] = SipAgent("cy", spare, folder, calls, seconds)
            spare_agent = SPARE.format(phone=self.agents["cy"].phone)
        self.crm = FakeCrm()
        flow = FLOW.format(strategy=strategy, max_wait=max_wait, ring_timeout=ring_timeout, ana=ana_phone or self.agents["ana"].phone,
                           bo=self.agents["bo"].phone, crm=self.crm.url, spare=spare_agent,
                           campaign_extra=(f'team_url = "{self.crm.url}{team}"\n' if team else "") + campaign_extra)
        port = free_port()
        self.api = f"http://127.0.0.1:{port}/api"
        own_database = f'\n[database]\nurl = "sqlite:///{folder / "ivr.sqlite3"}"\n'
        self.config = pbx.configured(folder, flow, f"\n[api]\nport = {port}\n{own_database}{settings}")
        result = pbx.ivr("pbx", "up", config=self.config)
        assert result.returncode == 0, result.stderr
        self.app = App(pbx, folder / "app.log", config=self.config)
        self.app.wait_connected(1)
        self.token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        for agent in ("ana", "bo"):
            self.request("POST", f"/agents/{agent}/login").raise_for_status()

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        return httpx.request(method, self.api + path, headers=headers, timeout=5, **kwargs)

    def close(self) -> None:
        self.app.stop()
        self.crm.close()
        for agent in self.agents.values():
            agent.stop()


@pytest.fixture
def setup(pbx: Pbx, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    created = Setup(pbx, tmp_path, *request.param)
    try:
        yield created
    finally:
        created.close()


@pytest.mark.parametrize("setup", [("busy", "answer"), ("ring", "answer")], indirect=True,
                         ids=["first-agent-busy", "first-agent-rings-out"])
def test_ordered_offers_the_next_agent_when_the_first_does_not_answer(pbx: Pbx, setup: Setup) -> None:
    report = pbx.call("500", "--timeout", "12", config=setup.config)

    log = setup.app.text()
    assert report["variables"]["IVR_AGENT"] == "bo", log
    assert report["connected_to"], report
    assert log.index("offered to agent ana") < log.index("agent ana did not answer") < log.index(
        "offered to agent bo") < log.index("bridged with agent bo")


def test_a_caller_nobody_answers_goes_on_after_the_longest_wait(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "busy", "busy", max_wait=5.0)
    try:
        report = pbx.call("500", "--timeout", "20", config=setup.config)
    finally:
        setup.close()

    assert report["prompts"] == ["sound:beep"]
    assert "IVR_AGENT" not in report["variables"]


def offers(log: str) -> list[str]:
    return [line.rsplit("offered to agent ", 1)[1].split()[0] for line in log.splitlines()
            if "offered to agent" in line]


@pytest.mark.parametrize(("strategy", "offered", "bridged"), [
    ("ordered", ["ana"], "ana"),
    ("lowest-cost", ["bo"], "bo"),
    ("skills", ["bo"], "bo"),
    ("weighted-random", ["bo"], "bo"),  # weights 1 and 1000: ana first once in 1001 calls
])
def test_each_strategy_offers_in_its_order(pbx: Pbx, tmp_path: Path, strategy: str, offered: list[str],
                                           bridged: str) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy=strategy)
    try:
        report = pbx.call("500", "--timeout", "6", config=setup.config)
    finally:
        setup.close()

    assert offers(setup.app.text()) == offered
    assert report["variables"]["IVR_AGENT"] == bridged


def test_ring_all_offers_everyone_at_once_and_the_first_answer_wins(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ring-all")
    try:
        report = pbx.call("500", "--timeout", "6", config=setup.config)
    finally:
        setup.close()
    log = setup.app.text()

    assert sorted(offers(log)) == ["ana", "bo"]
    assert log.count("bridged with agent") == 1
    assert report["variables"]["IVR_AGENT"] in ("ana", "bo")


def test_longest_idle_gives_the_next_call_to_the_other_agent(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="longest-idle", calls=2)
    try:
        first = pbx.call("500", "--timeout", "5", config=setup.config)
        second = pbx.call("500", "--timeout", "5", config=setup.config)
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert (first["variables"]["IVR_AGENT"], second["variables"]["IVR_AGENT"]) == ("ana", "bo")
    record = json.loads(listed.stdout.splitlines()[0])
    assert record["agent"] == "bo"
    assert "campaign sales: the caller hung up first" in record["notes"]


def test_a_dynamic_team_sets_who_is_offered_the_call_and_in_what_order(pbx: Pbx, tmp_path: Path) -> None:
    CrmHandler.seen.clear()
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ordered", team="/team")
    try:
        report = pbx.call("500", "--timeout", "6", config=setup.config)
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert offers(setup.app.text()) == ["bo"]
    assert report["variables"]["IVR_AGENT"] == "bo"
    (body,) = [seen[2] for seen in CrmHandler.seen if seen[0] == "/team"]
    assert json.loads(body) == {"call": json.loads(body)["call"], "campaign": "sales", "caller": "100",
                                "did": "500", "customer_id": "", "variables": {}}
    assert "dynamic team: bo, ana" in json.loads(listed.stdout.splitlines()[0])["notes"]


def test_a_bad_team_answer_falls_back_to_the_strategy_and_the_record_says_so(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ordered", team="/team-garbage")
    try:
        pbx.call("500", "--timeout", "6", config=setup.config)
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert offers(setup.app.text()) == ["ana"]
    notes = json.loads(listed.stdout.splitlines()[0])["notes"]
    assert "dynamic team unavailable (agents must be a list of strings)" in notes


@pytest.mark.parametrize(("bo", "offered", "bridged"), [("answer", ["bo"], "bo"), ("busy", ["bo", "ana"], "ana")])
def test_the_customers_own_agent_comes_first_when_free(pbx: Pbx, tmp_path: Path, bo: Behaviour,
                                                        offered: list[str], bridged: str) -> None:
    setup = Setup(pbx, tmp_path, "answer", bo, strategy="ordered")
    try:
        report = pbx.call("501", "--dtmf", "2468", "--send-at", "prompt-start", "--timeout", "8",
                          config=setup.config)
    finally:
        setup.close()

    assert report["variables"]["IVR_CRM_AGENT"] == "bo"
    assert offers(setup.app.text()) == offered
    assert report["variables"]["IVR_AGENT"] == bridged


def test_a_caller_whose_own_agent_is_paused_is_told_and_served_by_another(pbx: Pbx, tmp_path: Path) -> None:
    # Ana answers late, while the prompt plays: 18 s of it, longer than the call is given, so
    # that a bridge waiting for the prompt to end would never be made.
    prompt = ", ".join(['"sound:ivr/own-agent-busy"'] * 4)
    setup = Setup(pbx, tmp_path, "late", "answer", strategy="ordered",
                  campaign_extra=f"own_agent_busy_prompt = [{prompt}]")
    try:
        setup.request("POST", "/agents/bo/pause", json={"reason": "meeting"}).raise_for_status()
        report = pbx.call("501", "--dtmf", "2468", "--send-at", "prompt-start", "--timeout", "12",
                          config=setup.config)
    finally:
        setup.close()

    assert "sound:ivr/own-agent-busy" in report["prompts"], report["prompts"]
    assert offers(setup.app.text()) == ["ana"]
    assert report["variables"]["IVR_AGENT"] == "ana"


def test_a_caller_who_keeps_the_agent_is_offered_to_them_first_next_time(pbx: Pbx, tmp_path: Path) -> None:
    """bo takes the first call (ana is busy) and hangs up; the caller presses 1 to keep bo. The
    next call of the same customer goes to bo first, though the list puts ana first."""
    setup = Setup(pbx, tmp_path, "busy", "brief", strategy="ordered", calls=2,
                  campaign_extra="remember_agent = true")
    keys = "1357" + "w1" * 30
    try:
        first = pbx.call("501", "--dtmf", keys, "--send-at", "prompt-start", "--timeout", "30",
                         config=setup.config)
        log_after_first = setup.app.text()
        second = pbx.call("501", "--dtmf", "1357", "--send-at", "prompt-start", "--timeout", "12",
                          config=setup.config)
        notes = until(lambda: _notes(pbx, setup, containing="(stored)"), 10, "the second call's record")
    finally:
        setup.close()

    assert first["variables"]["IVR_AGENT"] == "bo" and second["variables"]["IVR_AGENT"] == "bo"
    assert offers(log_after_first) == ["ana", "bo"], log_after_first
    assert offers(setup.app.text())[2:] == ["bo"], setup.app.text()
    assert "campaign sales: the caller keeps agent bo" in notes
    assert "campaign sales: own agent bo (stored)" in notes


def _notes(pbx: Pbx, setup: Setup, containing: str) -> str | None:
    listed = pbx.ivr("calls", "--json", config=setup.config).stdout.splitlines()
    notes = "; ".join(json.loads(line)["notes"] for line in listed)
    return notes if containing in notes else None


def test_the_supervisor_api_sets_the_customers_agent_and_the_call_goes_there(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ordered", campaign_extra="remember_agent = true")
    ana_token = (pbx.state_dir / "api" / "agent-ana-token").read_text().strip()
    try:
        refused = [setup.request("PUT", "/customers/1357/agent", json={"agent": "zed"}).status_code,
                   setup.request("PUT", "/customers/1357/agent", token=ana_token, json={"agent": "ana"}).status_code,
                   setup.request("GET", "/customers/13%2057/agent").status_code]
        setup.request("PUT", "/customers/1357/agent", json={"agent": "bo"}).raise_for_status()
        stored = setup.request("GET", "/customers/1357/agent").json()
        report = pbx.call("501", "--dtmf", "1357", "--send-at", "prompt-start", "--timeout", "8",
                          config=setup.config)
        forgotten = [setup.request("DELETE", "/customers/1357/agent").status_code,
                     setup.request("GET", "/customers/1357/agent").status_code]
    finally:
        setup.close()

    assert refused == [400, 403, 400]
    assert stored == {"customer_id": "1357", "agent": "bo"}
    assert offers(setup.app.text()) == ["bo"] and report["variables"]["IVR_AGENT"] == "bo"
    assert forgotten == [204, 404]


TRUNK_FLOW = """
[entry]
"500" = "campaign:field"

[campaign.field]
agents = ["pat"]
ring_timeout = 5.0
max_wait = 15.0

[trunk.pstn]
dial = "PJSIP/{number}@pstn"
allow = ["+346*"]

[agent.pat]
phone = "+34600111222"
trunk = "pstn"
ready_at_start = true
"""



def test_an_agent_on_an_outside_number_is_called_through_the_trunk(pbx: Pbx, tmp_path: Path) -> None:
    """The provider is SIPp at a fixed address, as the admin's own PJSIP section describes it."""
    provider = SipAgent("pstn", "answer", tmp_path)
    (tmp_path / "providers.conf").write_text(PROVIDER.format(port=provider.port))
    settings = f'\n[api]\nport = {free_port()}\n[database]\nurl = "sqlite:///{tmp_path / "ivr.sqlite3"}"\n'
    config = pbx.configured(tmp_path, TRUNK_FLOW, settings)
    config.write_text(config.read_text().replace(
        "[pbx]\n", f'[pbx]\npjsip_include = "{tmp_path / "providers.conf"}"\n', 1))
    app = None
    try:
        assert pbx.ivr("pbx", "up", config=config).returncode == 0
        app = App(pbx, tmp_path / "app.log", config=config)
        app.wait_connected(1)
        report = pbx.call("500", "--timeout", "6", config=config)
    finally:
        if app is not None:
            app.stop()
        provider.stop()

    assert report["variables"]["IVR_AGENT"] == "pat", report
    assert any(name.startswith("PJSIP/pstn-") for name in report["connected_to"]), report
    assert "Called +34600111222@pstn" in pbx.asterisk_log()


def test_the_api_logs_agents_in_and_out_and_pushes_the_offer(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ordered")
    stream: list[str] = []
    try:
        ana_token = (pbx.state_dir / "api" / "agent-ana-token").read_text().strip()
        refused = [setup.request("GET", "/agents", token="wrong").status_code,
                   setup.request("POST", "/agents/bo/pause", token=ana_token, json={"reason": "x"}).status_code,
                   setup.request("POST", "/agents/ana/pause", token=ana_token, json={}).status_code,
                   setup.request("POST", "/agents/ana/login", token=ana_token).status_code]
        paused = setup.request("POST", "/agents/ana/pause", token=ana_token, json={"reason": "coffee"}).json()
        # bo paused too while the caller comes in: it certainly waits when the line is read.
        setup.request("POST", "/agents/bo/pause", json={"reason": "x"}).raise_for_status()
        with httpx.stream("GET", setup.api + "/events", headers={"Authorization": f"Bearer {setup.token}"},
                          timeout=15) as events:
            call = _in_background(pbx, setup, timeout=10)
            waiting = until(lambda: _positions(setup), 10, "the caller in the line")
            setup.request("POST", "/agents/bo/ready").raise_for_status()
            for line in events.iter_lines():
                stream.append(line)
                if line.startswith("data:") and '"offer"' in line:
                    break
        report = json.loads(call.communicate(timeout=30)[0])
        agents = {a["id"]: a for a in setup.request("GET", "/agents").json()["agents"]}
        ana_sees = [a["id"] for a in setup.request("GET", "/agents", token=ana_token).json()["agents"]]
    finally:
        setup.close()

    assert refused == [401, 403, 400, 409]
    assert paused["state"] == "paused" and paused["reason"] == "coffee"
    offer = json.loads(next(line for line in stream if '"offer"' in line).removeprefix("data: "))
    assert (offer["agent"], offer["campaign"], offer["caller"], offer["did"]) == ("bo", "sales", "100", "500")
    assert report["variables"]["IVR_AGENT"] == "bo"
    assert waiting == [1]
    assert agents["bo"]["offers"] == 1 and agents["bo"]["answers"] == 1
    assert agents["ana"]["state"] == "paused" and ana_sees == ["ana"]


def _positions(setup: Setup) -> list[int]:
    campaigns = setup.request("GET", "/campaigns").json()["campaigns"]
    return [w["position"] for c in campaigns if c["campaign"] == "sales" for w in c["waiting"]]


def _in_background(pbx: Pbx, setup: Setup, timeout: int = 6) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ivr", "--config", str(setup.config), "call", "500",
                             "--json", "--timeout", str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)


def test_callers_hear_their_position_and_may_leave_with_the_exit_key(pbx: Pbx, tmp_path: Path) -> None:
    extra = 'announce_every = 1.0\nexit_key = "0"\non_exit = "message:sorry"\n'
    setup = Setup(pbx, tmp_path, "busy", "busy", campaign_extra=extra)
    try:
        report = pbx.call("500", "--dtmf", "0", "--send-at", "prompt-start", "--timeout", "20",
                          config=setup.config)
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert report["prompts"][0] == "sound:queue-youarenext"
    assert report["prompts"][-1] == "sound:beep"
    assert report["hangup_cause"] == 16 and not report["timed_out"]
    record = json.loads(listed.stdout.splitlines()[0])
    assert "the caller pressed 0 to leave" in record["notes"]
    assert record["nodes"] == "campaign:sales > message:sorry > hangup"


def test_an_agent_who_misses_offers_in_a_row_is_paused(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "ring", "answer", settings="\n[agents]\nauto_pause_after = 1\n")
    try:
        report = pbx.call("500", "--timeout", "8", config=setup.config)
        ana = setup.request("GET", "/agents").json()["agents"][0]
    finally:
        setup.close()

    assert report["variables"]["IVR_AGENT"] == "bo"
    assert (ana["id"], ana["state"], ana["reason"]) == ("ana", "paused", "auto: 1 offer(s) in a row not answered")
    assert "agent ana: paused automatically: 1 offer(s) in a row not answered" in setup.app.text()
    assert (ana["offers"], ana["no_answers"]) == (1, 1)


def test_a_caller_who_hangs_up_while_waiting_leaves_the_line(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "busy", "busy", max_wait=60.0)
    try:
        report = pbx.call("500", "--timeout", "4", config=setup.config)
        waiting = setup.request("GET", "/campaigns").json()["campaigns"]
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert report["timed_out"]
    assert waiting == [{"campaign": "sales", "waiting": []}]
    record = json.loads(listed.stdout.splitlines()[0])
    assert record["outcome"].startswith("caller hung up")
    assert "the caller hung up while waiting" in record["notes"]


def test_an_agent_whose_softphone_is_not_registered_is_skipped(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer", ana_phone="register")
    try:
        report = pbx.call("500", "--timeout", "6", config=setup.config)
    finally:
        setup.close()

    assert offers(setup.app.text()) == ["bo"]
    assert "agent ana: phone offline; not offered now" in setup.app.text()
    assert report["variables"]["IVR_AGENT"] == "bo"


def test_an_agent_whose_phone_is_in_a_call_of_its_own_is_skipped_until_it_ends(pbx: Pbx, tmp_path: Path) -> None:
    """Asterisk tells the app when ana's phone takes a call the app did not make (an endpoint
    event), and again when that call ends: the first caller goes to bo, the next to ana."""
    setup = Setup(pbx, tmp_path, "answer", "answer", calls=2)
    try:
        # A call to ana's phone that is not the app's: it plays "please hold", then the fallback.
        pbx.ari("POST", "/channels", endpoint="PJSIP/agent-ana", context="ivr-campaign", extension="outside",
                priority=1, formats="ulaw")
        until(lambda: "agent ana: phone busy in a call of its own" in setup.app.text(), 5, "ana's phone busy")
        first = pbx.call("500", "--timeout", "4", config=setup.config)
        until(lambda: not [c for c in pbx.channels() if c["name"].startswith("PJSIP/agent-ana")], 10,
              "ana's own call to end")
        second = pbx.call("500", "--timeout", "4", config=setup.config)
    finally:
        setup.close()

    assert (first["variables"]["IVR_AGENT"], second["variables"]["IVR_AGENT"]) == ("bo", "ana")
    assert offers(setup.app.text()) == ["bo", "ana"]


OVERFLOW = 'overflow_after = 3.0\noverflow_agents = ["cy"]\n'


def test_a_spare_number_takes_the_call_after_the_overflow_threshold(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "busy", "busy", spare="answer", campaign_extra=OVERFLOW)
    try:
        report = pbx.call("500", "--timeout", "10", config=setup.config)
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        setup.close()

    assert report["variables"]["IVR_AGENT"] == "cy"
    assert offers(setup.app.text())[:2] == ["ana", "bo"]
    assert "overflow: answered by spare cy" in json.loads(listed.stdout.splitlines()[0])["notes"]


def test_no_spare_is_called_outside_its_hours(pbx: Pbx, tmp_path: Path) -> None:
    hours = OVERFLOW + 'overflow_hours = ["long-ago"]\n\n[[timegroup.long-ago]]\ndates = ["2020-01-01"]\n'
    setup = Setup(pbx, tmp_path, "busy", "busy", spare="answer", campaign_extra=hours, max_wait=6.0)
    try:
        report = pbx.call("500", "--timeout", "15", config=setup.config)
    finally:
        setup.close()

    assert "cy" not in offers(setup.app.text())
    assert "IVR_AGENT" not in report["variables"]
    assert report["prompts"] == ["sound:beep"]


def test_callers_waiting_and_agents_states_outlive_an_app_restart(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "answer", "answer")
    second = None
    try:
        setup.request("POST", "/agents/ana/pause", json={"reason": "lunch"}).raise_for_status()
        setup.request("POST", "/agents/bo/logout").raise_for_status()
        call = _in_background(pbx, setup, timeout=20)
        until(lambda: "waiting in campaign sales" in setup.app.text(), 15, "the caller to wait")
        setup.app.stop()
        second = App(pbx, tmp_path / "second.log", config=setup.config)
        second.wait_connected(1)
        until(lambda: "waiting in campaign sales" in second.text(), 15, "the caller back in the line")
        ana = setup.request("GET", "/agents").json()["agents"][0]
        setup.request("POST", "/agents/bo/login").raise_for_status()
        until(lambda: "bridged with agent bo" in second.text(), 15, "the caller bridged")
        report = json.loads(call.communicate(timeout=30)[0])
        until(lambda: "finished: caller hung up" in second.text(), 10, "the call's end")
        listed = pbx.ivr("calls", "--json", config=setup.config)
    finally:
        if second is not None:
            second.stop()
        setup.close()

    assert (ana["id"], ana["state"], ana["reason"]) == ("ana", "paused", "lunch")
    assert "handed to the requeue loop" in setup.app.text()
    assert any(step.startswith("ivr-requeue,s,") for step in report["dialplan"])
    assert report["variables"]["IVR_AGENT"] == "bo"
    notes = [json.loads(line)["notes"] for line in listed.stdout.splitlines()]
    assert any("taken back after an app restart" in n for n in notes)


def test_an_agent_leg_left_ringing_by_a_killed_app_is_hung_up_on_restart(pbx: Pbx, tmp_path: Path) -> None:
    setup = Setup(pbx, tmp_path, "ring", "answer", calls=2, ring_timeout=30.0, max_wait=60.0)
    second = None
    try:
        call = _in_background(pbx, setup, timeout=15)
        until(lambda: "offered to agent ana" in setup.app.text(), 15, "ana's phone to ring")
        leg, name = until(lambda: [(c["id"], c["name"]) for c in pbx.channels() if "-agent-" in c["id"]],
                          5, "ana's leg")[0]
        setup.app.process.kill()
        setup.app.stop()
        second = App(pbx, tmp_path / "second.log", config=setup.config)
        second.wait_connected(1)
        # The next offer's leg may take the same id; the channel's name is its own.
        until(lambda: name not in {c["name"] for c in pbx.channels()}, 3, "the old leg to be hung up")
        until(lambda: "offered to agent" in second.text(), 10, "the caller offered again")
        call.communicate(timeout=30)
    finally:
        if second is not None:
            second.stop()
        setup.close()

    log = second.text()
    assert f"hanging up agent leg {leg} of an earlier process (ringing)" in log, log
    # Free again at once: ordered offers ana first, whose phone would be busy with the old ring.
    assert log.split("offered to agent ")[1].startswith("ana"), log
