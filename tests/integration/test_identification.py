"""The identification node end to end: real Asterisk, `ivr run`, and a real HTTP CRM on
127.0.0.1 that answers, refuses, stalls and sends garbage."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration import sipp
from tests.integration.harness import App, Pbx, until
from tests.integration.test_sip import Watcher
from tests.ports import free_port
from tests.unit.fake_crm import HOSTILE_VARIABLES, CrmHandler, FakeCrm

NODE = """
[identification.{name}]
expected_length = 4
timeout = 2.0
inter_digit_timeout = 1.5
attempts = 2
interaction = "{interaction}"
url = "{url}"
deadline = 1.0
send_caller = true
on_identified = "message:identified"
on_not_identified = "message:not-identified"
on_unavailable = "message:crm-down"
"""

FLOW = """
[entry]
"200" = "identification:dest"
"201" = "identification:tf"
"202" = "identification:digits"
{failure_entries}

[campaign.gold]
id = 1

[menu.main]
id = 1
prompt = ["sound:beep"]
options = {{ "1" = "campaign:gold" }}
timeout = 1.0
attempts = 1
on_failure = "hangup"

[hangup.bye]
id = 1

[message.identified]
prompt = ["sound:beep"]

[message.not-identified]
prompt = ["sound:beep"]

[message.crm-down]
prompt = ["sound:beep"]

[identification.digits]
expected_length = 4
timeout = 1.5
inter_digit_timeout = 1.0
attempts = 2
on_identified = "message:identified"
on_not_identified = "message:not-identified"
"""

FAILURES = {
    "http-503": ("/error", "HTTP 503"),
    "not-json": ("/garbage", "answer: not JSON"),
    "too-big": ("/huge", "answer larger than 65536 bytes"),
    "too-slow": ("/slow?3", "no complete answer within 1 s"),
    "slow-drip": ("/drip", "no complete answer within 1 s"),
    "redirect": ("/redirect", "HTTP 302 (redirects are not followed)"),
    "status-fail": ("/fail", 'CRM answered status "fail"'),
}
NUMBERS = {name: str(210 + index) for index, name in enumerate(sorted([*FAILURES, "refused", "tls"]))}


@pytest.fixture(scope="module")
def crm() -> Iterator[FakeCrm]:
    server = FakeCrm()
    yield server
    server.close()


@pytest.fixture(scope="module")
def flow_app(pbx: Pbx, crm: FakeCrm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("identification")
    closed = free_port(socket.SOCK_STREAM)
    urls = {name: crm.url + path for name, (path, _) in FAILURES.items()}
    urls["refused"] = f"http://127.0.0.1:{closed}/crm"
    urls["tls"] = crm.url.replace("http://", "https://") + "/dest"
    nodes = [NODE.format(name="dest", interaction="destination", url=crm.url + "/dest"),
             NODE.format(name="tf", interaction="true-false", url=crm.url + "/tf")]
    entries = []
    for name, url in urls.items():
        nodes.append(NODE.format(name=name, interaction="destination", url=url))
        entries.append(f'"{NUMBERS[name]}" = "identification:{name}"')
    flow = FLOW.format(failure_entries="\n".join(entries)) + "".join(nodes)
    app = App(pbx, folder / "app.log", config=pbx.configured(folder, flow))
    try:
        app.wait_connected(1)
        yield app
    finally:
        app.stop()


def calls(pbx: Pbx, *calls: tuple[str, str]) -> list[dict[str, Any]]:
    """Side by side, digits sent as the prompt starts (barge-in keeps the tests short)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda c: pbx.call(c[0], "--dtmf", c[1], "--send-at", "prompt-start"),
                             calls))


def test_the_crms_variables_reach_the_channel_as_sent(pbx: Pbx, flow_app: App) -> None:
    """The variables of a step go in one request (ARRAY), whose values Asterisk splits on commas
    and unquotes: nothing of that may show."""
    (report,) = calls(pbx, ("200", "1122"))

    assert {key: report["variables"].get(f"IVR_CRM_{key.upper()}") for key in HOSTILE_VARIABLES} \
        == HOSTILE_VARIABLES, report["variables"]
    assert report["variables"]["IVR_DESTINATION"] == "campaign:gold"


def test_a_crm_destination_routes_to_the_configured_node(pbx: Pbx, flow_app: App) -> None:
    CrmHandler.seen.clear()
    gold, menu, hangup, unknown = calls(pbx, ("200", "1111"), ("200", "2222#"), ("200", "5555"),
                                        ("200", "4444"))

    assert gold["variables"] | {"IVR_DID": ""} == gold["variables"] | {
        "IVR_CUSTOMER_ID": "1111", "IVR_RESULT": "identified", "IVR_DESTINATION": "campaign:gold",
        "IVR_DESTINATION_TYPE": "1", "IVR_DESTINATION_ID": "1", "IVR_CRM_NAME": "Ana",
        "IVR_CRM_PRIORITY": "1", "IVR_DID": ""}
    assert any(step.startswith("ivr-campaign,gold,1 ") for step in gold["dialplan"]), gold["dialplan"]
    assert menu["variables"]["IVR_DESTINATION"] == "menu:main"
    assert menu["prompts"][-1] == "sound:beep"
    assert hangup["variables"]["IVR_DESTINATION"] == "hangup:bye"
    assert hangup["hangup_cause"] == 16
    assert unknown["variables"]["IVR_RESULT"] == "not-identified"
    assert unknown["variables"]["IVR_DESTINATION"] == "message:not-identified"
    requests = {body.decode(): headers for path, headers, body in CrmHandler.seen}
    assert set(requests) == {f"idContact={c}&callerId=100&did=200" for c in ("1111", "2222", "5555", "4444")}
    assert {h["User-Agent"] for h in requests.values()} == {"OMniLeads"}
    assert {h["Content-Type"] for h in requests.values()} == {"application/x-www-form-urlencoded"}


def test_a_true_false_crm_picks_one_of_two_destinations(pbx: Pbx, flow_app: App) -> None:
    known, unknown = calls(pbx, ("201", "1234"), ("201", "9876"))

    assert known["variables"]["IVR_RESULT"] == "identified"
    assert known["variables"]["IVR_DESTINATION"] == "message:identified"
    assert unknown["variables"]["IVR_RESULT"] == "not-identified"
    assert unknown["variables"]["IVR_DESTINATION"] == "message:not-identified"


def test_every_crm_failure_routes_the_call_with_its_reason(pbx: Pbx, flow_app: App) -> None:
    reports = dict(zip(NUMBERS, calls(pbx, *((number, "1234") for number in NUMBERS.values())),
                       strict=True))
    not_configured, no_such_type = calls(pbx, ("200", "3333"), ("200", "6666"))
    reports |= {"not-configured": not_configured, "no-such-type": no_such_type}
    reasons = {name: reason for name, (_, reason) in FAILURES.items()} | {
        "refused": "cannot connect", "tls": "TLS", "not-configured": "destination 1,99 is not configured",
        "no-such-type": "destination 7,1 is not configured"}

    for name, report in reports.items():
        variables = report["variables"]
        assert variables.get("IVR_RESULT") == "unavailable", (name, variables)
        assert variables["IVR_DESTINATION"] == "message:crm-down", name
        assert variables["IVR_CRM_REASON"].startswith(reasons[name]), (name, variables["IVR_CRM_REASON"])
        assert report["hangup_cause"] == 16, name
    log = flow_app.text()
    assert log.count("CRM unavailable") + log.count("CRM answer refused") >= len(reports)


def test_callers_hear_hold_music_while_the_crm_thinks(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call(NUMBERS["too-slow"], "--dtmf", "1234", "--send-at", "prompt-start")

    assert report["variables"]["IVR_RESULT"] == "unavailable"
    assert "Started music on hold, class 'ivr'" in pbx.asterisk_log()


@pytest.mark.parametrize(("dtmf", "entries", "retry_prompt"), [
    ("#", "no input (the terminator alone), then no input", "sound:ivr/no-entry"),
    ("12#", "too short, then no input", "sound:ivr/invalid-entry"),
    ("", "no input twice", "sound:ivr/no-entry"),
    ("12*4", "a non-digit key, then no input", "sound:ivr/invalid-entry"),
])
def test_entries_that_use_up_the_attempts(pbx: Pbx, flow_app: App, dtmf: str, entries: str,
                                          retry_prompt: str) -> None:
    report = pbx.call("202", "--dtmf", dtmf, "--send-at", "prompt-start") if dtmf else pbx.call("202")

    assert report["variables"]["IVR_RESULT"] == "not-identified", (entries, report["variables"])
    assert report["prompts"][:3] == ["sound:ivr/enter-customer-id", retry_prompt,
                                     "sound:ivr/enter-customer-id"], (entries, report["prompts"])


def test_slow_keys_time_out_and_the_next_ones_barge_into_the_retry(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call("202", "--dtmf", "12wwwww34", "--send-at", "prompt-start")

    assert report["variables"]["IVR_RESULT"] == "not-identified", report
    assert report["prompts"] == ["sound:ivr/enter-customer-id", "sound:ivr/invalid-entry", "sound:beep"]


def test_keys_past_the_expected_length_are_not_part_of_the_id(pbx: Pbx, flow_app: App) -> None:
    report = pbx.call("202", "--dtmf", "12345", "--send-at", "prompt-start")

    assert report["variables"]["IVR_RESULT"] == "identified"
    assert report["variables"]["IVR_CUSTOMER_ID"] == "1234"


@pytest.mark.parametrize(("exten", "keys", "expected"), [
    ("200", "1357", {"IVR_RESULT": "identified", "IVR_DESTINATION": "campaign:gold",
                     "IVR_DESTINATION_TYPE": "1", "IVR_DESTINATION_ID": "1"}),
    ("201", "1234", {"IVR_RESULT": "identified", "IVR_DESTINATION": "message:identified"}),
    ("201", "2468", {"IVR_RESULT": "not-identified", "IVR_DESTINATION": "message:not-identified"}),
    ("202", "2579", {"IVR_RESULT": "identified", "IVR_DESTINATION": "message:identified"}),
])
def test_a_sip_call_with_rfc2833_keys_is_identified(pbx: Pbx, flow_app: App, tmp_path: Path,
                                                    exten: str, keys: str, expected: dict[str, str]) -> None:
    """Keys in rising order: each capture carries its own RTP timestamp, and Asterisk drops an
    event whose timestamp is older than the last one's."""
    watcher = Watcher(pbx)
    try:
        result = sipp.call(pbx.sip_port, exten, keys, tmp_path)
        until(lambda: watcher.variable("IVR_DESTINATION", "PJSIP/loopback"), 15, "IVR_DESTINATION")
    finally:
        watcher.close()

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert watcher.digits("PJSIP/loopback") == keys
    assert watcher.variable("__IVR_CUSTOMER_ID", "PJSIP/loopback") == [keys]
    for name, value in expected.items():
        assert watcher.variable(name, "PJSIP/loopback") == [value], name
