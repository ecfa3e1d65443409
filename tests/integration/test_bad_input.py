"""Bad input gets a clear error that names the thing, and a non-zero exit."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.harness import Pbx
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
