"""The command line's conventions: --config before or after the command, --version, help that
says what each command does, list settings from the environment, and the first PBX build told
stage by stage."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ivr import cli
from ivr.config_file import ConfigError
from ivr.pbx.rootfs import ensure_root
from ivr.settings import load_settings


@pytest.mark.parametrize("argv", [["--config", "x.toml", "check"], ["check", "--config", "x.toml"],
                                  ["--config", "y.toml", "check", "--config", "x.toml"],
                                  ["pbx", "status", "--config", "x.toml"],
                                  ["pbx", "--config", "x.toml", "status"]])
def test_config_is_taken_before_or_after_the_command(argv: list[str]) -> None:
    assert cli._parser().parse_args(argv).config == "x.toml"


def test_without_config_after_the_command_the_one_before_stays() -> None:
    assert cli._parser().parse_args(["--config", "y.toml", "calls"]).config == "y.toml"
    assert cli._parser().parse_args(["calls"]).config is None


def test_version_and_help_say_what_ivr_and_each_command_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ivr 0.")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "the front door and the call distribution of a contact center" in capsys.readouterr().out
    for command in ("run", "doctor", "calls", "check"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        description = capsys.readouterr().out.split("\n\n")[1]
        assert len(description) > 20 and description.endswith("."), (command, description)


def test_commands_that_print_data_take_json() -> None:
    parser = cli._parser()
    for argv in (["call", "100"], ["calls"], ["doctor"], ["pbx", "status"]):
        assert parser.parse_args([*argv, "--json"]).json is True, argv


@pytest.mark.parametrize("value", ['["ivr", "ivr-b"]', "ivr,ivr-b", " ivr , ivr-b "])
def test_list_settings_come_from_the_environment_as_json_or_commas(value: str) -> None:
    settings = load_settings(None, {"IVR_PBX__APPS": value})
    assert settings.pbx.apps == ("ivr", "ivr-b")


def test_a_bad_list_from_the_environment_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(None, {"IVR_AGENTS__PAUSE_REASONS": '["lunch"'})
    assert str(error.value).startswith("environment IVR_AGENTS__PAUSE_REASONS: agents.pause_reasons: "
                                       "not a JSON list")


FAKE_DEBOOTSTRAP = """#!/bin/sh
# debootstrap's stages, a few lines each, then the root it makes
for line in "Retrieving InRelease" "Retrieving Packages" "Validating Packages" \\
  "Resolving dependencies of required packages..." "Retrieving libc6 2.41" "Retrieving asterisk 22.5" \\
  "Extracting libc6..." "Extracting asterisk..." "Installing core packages..." \\
  "Configuring libc6..." "Configuring asterisk..." "Base system installed successfully."; do
  echo "I: $line"
done
mkdir -p "$4/usr/sbin" "$4/etc" && touch "$4/usr/sbin/asterisk" "$4/etc/passwd" "$4/etc/group"
"""


def test_the_first_build_says_each_stage_and_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the build refuses to run without root (debootstrap, chroot); run as root")
    fake = tmp_path / "bin" / "debootstrap"
    fake.parent.mkdir()
    fake.write_text(FAKE_DEBOOTSTRAP)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    said: list[str] = []

    assert ensure_root(tmp_path / "root", "http://m.example/debian", tmp_path / "build.log", said.append)

    assert said[0].startswith(f"building the Asterisk root at {tmp_path / 'root'}: debootstrap sid from "
                              "http://m.example/debian with asterisk")
    assert [line.split("debootstrap: ")[1] for line in said[1:-1]] == [
        "Retrieving InRelease", "Validating Packages", "Resolving dependencies of required packages...",
        "Retrieving libc6 2.41", "Extracting libc6...", "Installing core packages...",
        "Configuring libc6...", "Base system installed successfully."]
    assert said[-1].startswith("Asterisk root built in ") and said[-1].endswith(" s")
    assert "I: Extracting asterisk..." in (tmp_path / "build.log").read_text()


def test_no_module_of_ivr_needs_httpx_or_sniffio() -> None:
    """They are the tests' (pyproject's test extra), not ivr's: every module imports without."""
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, ivr\n"
            "sys.modules['httpx'] = sys.modules['sniffio'] = sys.modules['httpcore'] = None\n"
            "for module in pkgutil.walk_packages(ivr.__path__, 'ivr.'):\n"
            "    if module.name not in ('ivr.bench.plot', 'ivr.__main__'):\n"
            "        importlib.import_module(module.name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
