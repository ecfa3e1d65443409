"""Every field wrong in turn gives one problem naming the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config_file import ConfigError, locate_line
from ivr.settings import load_settings


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "ivr.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return [str(p).replace(str(path), "ivr.toml") for p in caught.value.problems]


def test_defaults_need_no_file() -> None:
    settings = load_settings(None, {})

    assert settings.ari_url == "http://127.0.0.1:8088"
    assert settings.pbx.bind == "127.0.0.1"
    assert settings.ari.password == ""


@pytest.mark.parametrize(("text", "expected"), [
    ('[ari]\nurl = "ftp://pbx"\n', "ivr.toml:2: ari.url: expected an http:// or https:// URL"),
    ('[ari]\nuser = "a b"\n', "ivr.toml:2: ari.user: String should match pattern"),
    ('[ari]\napp = ""\n', "ivr.toml:2: ari.app: String should match pattern"),
    ('[ari]\nping_interval = 30\n', "ivr.toml:2: ari.ping_interval: Input should be less than"),
    ('[ari]\nstartup_timeout = "soon"\n', "ivr.toml:2: ari.startup_timeout: Input should be a valid number"),
    ('[pbx]\ninstance = "Demo!"\n', "ivr.toml:2: pbx.instance: String should match pattern"),
    ('[pbx]\nhttp_port = 70000\n', "ivr.toml:2: pbx.http_port: Input should be less than or equal to 65535"),
    ('[pbx]\nrtp_start = 30000\nrtp_end = 20000\n', "ivr.toml:1: pbx: rtp_end (20000) must be above rtp_start"),
    ('[pbx]\nsip_port = 8088\n', "ivr.toml:1: pbx: http_port, sip_port, ami_port and tls_port must differ"),
    ('[pbx.fallback]\nkind = "queue"\n', "ivr.toml:2: pbx.fallback.kind: Input should be 'message', 'goto', 'dial' or 'busy'"),
    ('[pbx.fallback]\nkind = "goto"\n', "ivr.toml:1: pbx.fallback: kind 'goto' needs 'context'"),
    ('[pbx.fallback]\nkind = "dial"\n', "ivr.toml:1: pbx.fallback: kind 'dial' needs 'dial'"),
    ('[pbx.fallback]\ndial = "PJSIP/x,,U(evil)"\n', "ivr.toml:2: pbx.fallback.dial: String should match pattern"),
    ('[records]\ndigits = "hide"\n', "ivr.toml:2: records.digits: Input should be 'keep', 'mask' or 'drop'"),
    ('[records]\nkeep_last = 9\n', "ivr.toml:2: records.keep_last: Input should be less than or equal to 8"),
    ('[agi]\nport = 0\n', "ivr.toml:2: agi.port: Input should be greater than or equal to 1"),
    ('[database]\nurl = "mysql://x"\n', "ivr.toml:2: database.url: expected a sqlite:// or postgresql:// URL"),
    ('[log]\nlevel = "loud"\n', "ivr.toml:2: log.level: Input should be 'debug', 'info', 'warning' or 'error'"),
    ('[ari]\npasword = "x"\n', "ivr.toml:2: ari.pasword: unknown setting (misspelt?)"),
    ('[pbx]\napps = ["ivr-a", "ivr-b"]\n', "ivr.toml:1: pbx: apps ['ivr-a', 'ivr-b'] lacks ari.app 'ivr'"),
    ('[pbx]\napps = ["ivr a"]\n', "ivr.toml:2: pbx.apps.0: String should match pattern"),
])
def test_each_wrong_field_is_named_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)

    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, '[ari]\nurl = "x"\n[pbx]\nhttp_port = 0\n[log]\nlevel = "x"\n')

    assert [p.split(":")[1] for p in found] == ["2", "4", "6"]


def test_an_environment_override_is_named_as_such(tmp_path: Path) -> None:
    found = problems(tmp_path, "", {"IVR_PBX__HTTP_PORT": "eighty"})

    assert found[0].startswith("environment IVR_PBX__HTTP_PORT: pbx.http_port: Input should be a valid integer")


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text("[pbx]\nhttp_port = 8100\n")

    assert load_settings(path, {"IVR_PBX__HTTP_PORT": "8200"}).pbx.http_port == 8200


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "[ari\n")

    assert found[0].startswith("ivr.toml: -: not valid TOML") and "line 1" in found[0]


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", {})


def test_relative_paths_start_at_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text('[pbx]\nroot = "cache/root"\n')
    settings = load_settings(path, {})

    assert settings.path(settings.pbx.root) == tmp_path / "cache" / "root"


def test_locate_line_finds_nested_tables_and_array_items() -> None:
    text = "[pbx]\nhttp_port = 1\n[pbx.fallback]\nkind = 'x'\n[[flows]]\nname = 'a'\n[[flows]]\nname = 'b'\n"

    assert locate_line(text, ("pbx", "fallback", "kind")) == 4
    assert locate_line(text, ("flows", "1", "name")) == 8
    assert locate_line(text, ("nothing",)) is None


def test_the_example_file_is_valid_and_shows_the_defaults() -> None:
    from ivr.settings import Settings

    example = load_settings(Path(__file__).parents[2] / "ivr.example.toml", {})

    assert example.model_dump(exclude={"base_dir"}) == Settings().model_dump(exclude={"base_dir"})


def test_the_state_folder_can_be_set_from_the_environment(tmp_path: Path) -> None:
    assert load_settings(None, {"IVR_STATE_DIR": str(tmp_path)}).state_path == tmp_path
    assert load_settings(None, {"IVR_CONFIG": "x.toml", "IVR_OTHER": "1"}).state_dir == ""
