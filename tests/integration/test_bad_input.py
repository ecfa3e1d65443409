"""Bad input gets a clear error that names the thing, and a non-zero exit."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.integration.harness import App, Pbx
from tests.integration.test_campaigns import Setup, offers
from tests.ports import free_port


def test_run_with_a_wrong_ari_password_says_so(pbx: Pbx) -> None:
    result = pbx.ivr("run", env={"IVR_ARI__PASSWORD": "not-the-password"}, timeout=30)

    assert result.returncode == 2
    assert "wrong ARI user or password" in result.stderr


def test_run_with_a_missing_password_file_names_it(pbx: Pbx, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ari-password"
    result = pbx.ivr("run", env={"IVR_ARI__PASSWORD_FILE": str(missing)}, timeout=30)

    assert result.returncode == 2
    assert f"cannot read {missing}" in result.stderr


def test_run_with_ari_unreachable_names_the_url(pbx: Pbx) -> None:
    port = free_port()
    result = pbx.ivr("run", env={"IVR_ARI__URL": f"http://127.0.0.1:{port}",
                                 "IVR_ARI__STARTUP_TIMEOUT": "1"}, timeout=30)

    assert result.returncode == 1
    assert f"ws://127.0.0.1:{port}/ari/events unreachable" in result.stderr
    assert "ConnectionRefusedError" in result.stderr


def test_call_to_an_unknown_extension_is_refused(pbx: Pbx) -> None:
    result = pbx.ivr("call", "abc")

    assert result.returncode == 1
    assert "unknown extension 'abc'" in result.stderr


def test_pbx_up_on_a_taken_port_names_the_port(pbx: Pbx) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = pbx.ivr("pbx", "up", env={"IVR_PBX__INSTANCE": "squatted",
                                           "IVR_PBX__HTTP_PORT": str(port)})

    assert result.returncode == 1
    assert f"pbx.http_port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.parametrize(("command", "setting"), [("run", "api.port"), ("agi", "agi.port")])
def test_a_server_on_a_taken_port_names_the_setting(pbx: Pbx, command: str, setting: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = "IVR_" + setting.upper().replace(".", "__")
        result = pbx.ivr(command, env={env: str(port)}, timeout=30)

    assert result.returncode == 1
    assert f"ivr: {setting}: cannot listen on 127.0.0.1:{port}: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_every_problem_with_file_and_line(pbx: Pbx, tmp_path: Path) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text('[ari]\nurl = "ftp://x"\n\n[pbx]\nhttp_port = 0\ncolour = "red"\n')
    result = pbx.ivr("check", config=config)

    assert result.returncode == 2
    assert f"{config}:2: ari.url: expected an http:// or https:// URL" in result.stderr
    assert f"{config}:5: pbx.http_port: Input should be greater than or equal to 1" in result.stderr
    assert f"{config}:6: pbx.colour: unknown setting" in result.stderr


def test_pbx_up_whose_ari_never_answers_says_what_it_tried_and_stops(pbx: Pbx) -> None:
    env = {"IVR_PBX__INSTANCE": "unanswered", "IVR_PBX__HTTP_PORT": str(free_port()),
           "IVR_PBX__SIP_PORT": str(free_port()), "IVR_PBX__AMI_PORT": str(free_port()),
           "IVR_ARI__PASSWORD": "not-the-generated-one", "IVR_PBX__STARTUP_TIMEOUT": "2"}
    result = pbx.ivr("pbx", "up", env=env)

    assert result.returncode == 1
    assert "ARI did not answer at http://127.0.0.1:" in result.stderr
    assert "(last try: HTTP 401)" in result.stderr
    assert "Last lines of" in result.stderr and "messages.log" in result.stderr
    status = pbx.ivr("pbx", "status", env=env)
    assert status.returncode == 1 and "stopped" in status.stdout


def test_the_campaign_context_leaves_asterisks_special_extensions_alone(pbx: Pbx) -> None:
    """``h`` runs when a caller hangs up there: matched as a campaign, it played and fell back."""
    def shown(exten: str) -> str:
        result = pbx.ivr("pbx", "cli", f"dialplan show {exten}@ivr-campaign")
        return result.stdout + result.stderr

    for special in ("h", "i", "t", "s", "a", "e", "o"):
        assert "There is no existence of" in shown(special), (special, shown(special))
    for campaign in ("gold", "h2", "sales-1", "b", "7"):
        assert "ivr: campaign ${EXTEN}" in shown(campaign), (campaign, shown(campaign))


DEEP = b"[" * 5000 + b"]" * 5000
# What a CRM (first) and a team webhook (second) answer, and the reason the call's record gives.
BAD_ANSWERS: dict[str, tuple[bytes, bytes, str, str]] = {
    "deep": (b'{"status": "ok", "destination": ' + DEEP + b"}", b'{"agents": ' + DEEP + b"}",
             "answer: nested deeper than 32 levels", "answer: nested deeper than 32 levels"),
    "huge-float": (b'{"status": "ok", "destination": 1e999999}', b'{"agents": [1e999999]}',
                   "answer: number out of range: '1e999999'", "answer: number out of range: '1e999999'"),
    "huge-int": (b'{"status": "ok", "destination": ' + b"7" * 50_000 + b"}",
                 b'{"agents": [' + b"7" * 50_000 + b"]}",
                 "answer: a number of 50000 digits (at most 100)", "answer: a number of 50000 digits (at most 100)"),
    "wrong-types": (b'{"status": ["ok"], "destination": {"1": 1}}', b'{"agents": {"ana": 1}}',
                    'status must be "ok" or "fail", got [\'ok\']', "agents must be a list of strings"),
    "bad-utf8": (b'{"status": "ok", "destination": "1,1\xff"}', b'{"agents": ["bo\xc3"]}',
                 "answer: not valid UTF-8 at byte 36", "answer: not valid UTF-8 at byte 15"),
    "bom": (b'\xef\xbb\xbf{"status": "ok", "destination": "false"}', b'\xef\xbb\xbf{"agents": ["bo"]}',
            "answer: starts with a byte-order mark", "answer: starts with a byte-order mark"),
    "duplicate-key": (b'{"status": "ok", "destination": "false", "destination": "1,1"}',
                      b'{"agents": ["bo"], "agents": ["ana"]}',
                      "answer: duplicate key 'destination'", "answer: duplicate key 'agents'"),
    "empty": (b"", b"", "answer: empty", "answer: empty"),
    "trickle": (b'{"status": "ok", "destination": "true"}', b'{"agents": ["bo"]}',
                "no complete answer within 1 s", "no complete answer within 1 s"),
}


class BadHandler(BaseHTTPRequestHandler):
    """``/crm/<case>`` answers as a CRM, ``/team`` as a team webhook: the next case at each request."""

    team_cases: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/team":
            _, body, *_ = BAD_ANSWERS[BadHandler.team_cases.pop(0)]
            trickle = body is BAD_ANSWERS["trickle"][1]
        else:
            case = self.path.rsplit("/", 1)[1]
            body, trickle = BAD_ANSWERS[case][0], case == "trickle"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for part in ([body[i:i + 1] for i in range(len(body))] if trickle else [body]):
                self.wfile.write(part)
                self.wfile.flush()
                if trickle:
                    time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app gave up on the trickle, as it should


@pytest.fixture(scope="module")
def bad_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BadHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CRM_NODE = """
[identification.{name}]
expected_length = 4
timeout = 3.0
attempts = 1
interaction = "destination"
url = "{url}"
deadline = 1.0
breaker_failures = 100
on_identified = "message:bye"
on_not_identified = "message:bye"
on_unavailable = "message:crm-down"
"""


def test_bad_crm_answers_send_every_caller_to_the_fallback_with_the_reason(
        pbx: Pbx, bad_server: str, tmp_path: Path) -> None:
    numbers = {case: str(400 + index) for index, case in enumerate(BAD_ANSWERS)}
    entries = "\n".join(f'"{numbers[case]}" = "identification:{case}"' for case in BAD_ANSWERS)
    nodes = "".join(CRM_NODE.format(name=case, url=f"{bad_server}/crm/{case}") for case in BAD_ANSWERS)
    flow = (f"[entry]\n{entries}\n\n[message.bye]\nprompt = [\"sound:beep\"]\n\n"
            f"[message.crm-down]\nprompt = [\"sound:beep\"]\n{nodes}")
    config = pbx.configured(tmp_path, flow, f'\n[database]\nurl = "sqlite:///{tmp_path / "ivr.sqlite3"}"\n')
    app = App(pbx, tmp_path / "app.log", config=config)
    try:
        app.wait_connected(1)
        with ThreadPoolExecutor(len(numbers)) as pool:
            reports = dict(zip(numbers, pool.map(
                lambda number: pbx.call(number, "--dtmf", "1234", "--send-at", "prompt-start", config=config),
                numbers.values()), strict=True))
        listed = pbx.ivr("calls", "--json", config=config)
    finally:
        app.stop()

    records = {record["did"]: record for record in map(json.loads, listed.stdout.splitlines())}
    for case, report in reports.items():
        variables, reason = report["variables"], BAD_ANSWERS[case][2]
        assert variables.get("IVR_RESULT") == "unavailable", (case, variables)
        assert variables["IVR_DESTINATION"] == "message:crm-down", case
        assert variables["IVR_CRM_REASON"] == reason, case
        assert report["hangup_cause"] == 16, case
        record = records[numbers[case]]
        assert (record["crm_outcome"], record["crm_reason"]) == ("unavailable", reason), case
        assert record["crm_ms"] > 0, (case, record)
    assert records[numbers["trickle"]]["crm_ms"] >= 1000
    assert "Traceback" not in app.text()
    assert app.text().count("CRM unavailable: answer: ") == 7


def test_bad_team_answers_leave_every_caller_to_the_strategy_with_the_reason(
        pbx: Pbx, bad_server: str, tmp_path: Path) -> None:
    BadHandler.team_cases[:] = list(BAD_ANSWERS)
    setup = Setup(pbx, tmp_path, "answer", "answer", strategy="ordered", calls=len(BAD_ANSWERS),
                  campaign_extra=f'team_url = "{bad_server}/team"\nteam_deadline = 1.0\n')
    try:
        reports = [pbx.call("500", "--timeout", "5", config=setup.config) for _ in BAD_ANSWERS]
        listed = pbx.ivr("calls", "--json", "--limit", str(len(BAD_ANSWERS)), config=setup.config)
    finally:
        setup.close()

    log = setup.app.text()
    assert [report["variables"].get("IVR_AGENT") for report in reports] == ["ana"] * len(BAD_ANSWERS), log
    assert offers(log) == ["ana"] * len(BAD_ANSWERS)
    notes = [json.loads(line)["notes"] for line in reversed(listed.stdout.splitlines())]
    for case, note in zip(BAD_ANSWERS, notes, strict=True):
        assert f"dynamic team unavailable ({BAD_ANSWERS[case][3]})" in note, (case, note)
    assert "Traceback" not in log
