"""The deployment kit, checked as far as a machine without a Docker engine allows: what the
image's build context holds (.dockerignore read by Docker's rules), the Dockerfile's shape, and
the systemd units through `systemd-analyze` (scripts/bootstrap.sh installs systemd for it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
UNITS = sorted((REPO / "docker" / "systemd").glob("*.service"))
INSTALLED_IVR = "/opt/ivr/bin/ivr"


def ignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore's lines as (exception, regex), by Docker's rules: paths from the context's
    root, ``*`` and ``?`` within one path element, ``**`` any number of them, ``!`` an exception;
    the last matching line decides."""
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        glob = line.removeprefix("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", glob):
            if part.startswith("**"):
                regex += "(.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            elif part.startswith("["):
                regex += part
            else:
                regex += re.escape(part)
        patterns.append((exception, re.compile(regex + "$")))
    return patterns


def excluded(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """A path is excluded when it or a folder above it matches (Docker excludes a folder's
    contents with it)."""
    parts = path.split("/")
    verdict = False
    for exception, pattern in patterns:
        if any(pattern.match("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            verdict = not exception
    return verdict


def build_context(root: Path) -> list[str]:
    patterns = ignore_patterns((root / ".dockerignore").read_text())
    kept = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder).relative_to(root)
        subfolders[:] = [name for name in subfolders if not excluded(str(here / name), patterns)]
        kept += [str(here / name) for name in files if not excluded(str(here / name), patterns)]
    return sorted(path.removeprefix("./") for path in kept)


def test_the_ignore_rules_follow_docker() -> None:
    patterns = ignore_patterns("**/__pycache__\n*.egg-info\ndocs/*.png\n.venv\n!docs/keep.png\n")
    assert excluded("ivr/core/__pycache__/x.pyc", patterns)
    assert excluded("__pycache__/x.pyc", patterns)
    assert excluded("ivr.egg-info/PKG-INFO", patterns)
    assert excluded(".venv/bin/python", patterns)
    assert excluded("docs/web.png", patterns) and not excluded("docs/keep.png", patterns)
    assert not excluded("docs/web.md", patterns) and not excluded("ivr/venv.py", patterns)


def test_the_image_context_holds_what_the_dockerfile_copies_and_not_the_heavy_folders() -> None:
    context = build_context(REPO)
    size = sum((REPO / path).stat().st_size for path in context)
    for heavy in (".git/", ".venv/", ".pbx/", ".ivr/", "tests/", "__pycache__/", ".mypy_cache/"):
        assert not [path for path in context if path.startswith(heavy) or f"/{heavy}" in path], heavy
    assert not [path for path in context if path.endswith(".png")]
    for needed in ("pyproject.toml", "README.md", "ivr/cli.py", "ivr/flows/demo.toml",
                   "ivr/web/static/agent.js", "dialplan/asterisk/extensions.conf"):
        assert needed in context, needed
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    for sources in copied:
        for source in sources.split():
            assert any(path == source or path.startswith(source + "/") for path in context), source
    assert size < 5_000_000, f"build context of {size} bytes"


def test_the_dockerfile_builds_a_wheel_installs_it_keeps_state_on_a_volume_and_checks_health() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) == 2
    assert "pip wheel" in text and " -e " not in text and "--editable" not in text
    assert 'VOLUME ["/var/lib/ivr"]' in text and "ENV IVR_STATE_DIR=/var/lib/ivr" in text
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.MULTILINE)
    assert re.search(r"^USER ivr$", text, flags=re.MULTILINE)


def test_a_docker_engine_builds_the_image_when_there_is_one() -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode != 0:
        pytest.skip("no Docker engine answers on this machine: the image is checked by the tests above")
    result = subprocess.run([docker, "build", "-f", str(DOCKERFILE), "-t", "ivr-test", str(REPO)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def installed_here(unit: Path, folder: Path) -> Path:
    """The unit with ivr's path on this machine: `verify` checks that ExecStart exists."""
    copy = folder / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED_IVR, str(REPO / ".venv" / "bin" / "ivr")))
    return copy


def test_the_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run scripts/bootstrap.sh"
    assert [unit.name for unit in UNITS] == ["ivr-agi.service", "ivr.service"]
    copies = [str(installed_here(unit, tmp_path)) for unit in UNITS]
    result = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), (
        result.stdout + result.stderr)


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_unit_is_hardened(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text()
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                   "ReadWritePaths=/var/lib/ivr", "User=ivr", "Restart=on-failure",
                   "EnvironmentFile=-/etc/ivr/ivr.env", "CapabilityBoundingSet=\n"):
        assert option in text, option
    # The threshold is on systemd's internal scale, ten times the printed one: 20 is 2.0 of 10.
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                             str(installed_here(unit, tmp_path))], capture_output=True, text=True, timeout=60)
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert result.returncode == 0 and exposure, result.stdout[-2000:] + result.stderr
    print(f"{unit.name}: exposure {exposure.group(1)}")
