"""Helpers for tests against the real bundled Asterisk: run the real `ivr` commands, watch ARI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]


def until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until ``check`` returns something truthy; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Pbx:
    """A bundled PBX instance for the tests, configured by a file like an admin's."""

    config: Path
    http_port: int
    sip_port: int
    state_dir: Path
    agi_port: int
    instance: str

    @property
    def folder(self) -> Path:
        """The instance's files in the root: its logs, spool, recordings."""
        return REPO / ".pbx" / "root" / "srv" / "ivr" / self.instance

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def password(self) -> str:
        return (self.state_dir / "pbx" / self.instance / "ari-password").read_text().strip()

    def ivr(self, *args: str, config: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivr", "--config", str(config or self.config), *args],
            capture_output=True, text=True, timeout=timeout, cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    def configured(self, folder: Path, flow: str = "", extra: str = "") -> Path:
        """A settings file like the instance's, with this flow file and extra settings."""
        text = self.config.read_text()
        if flow:
            (folder / "flows.toml").write_text(flow)
            text = text.partition("[flows]")[0] + f'[flows]\nfile = "{folder / "flows.toml"}"\n'
        if "[api]" in extra:
            text = re.sub(r"\[api\]\nport = \d+\n", "", text)
        config = folder / "ivr.toml"
        config.write_text(text + extra)
        return config

    def call(self, exten: str, *args: str, config: Path | None = None) -> dict[str, Any]:
        result = self.ivr("call", exten, "--json", *args, config=config)
        assert result.stdout.strip(), f"ivr call printed nothing: {result.stderr}"
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def ari(self, method: str, path: str, **params: Any) -> Any:
        response = httpx.request(method, f"{self.ari_url}/ari{path}", params=params,
                                 auth=("ivr", self.password), timeout=5)
        response.raise_for_status()
        return response.json() if response.content else None

    def asterisk_log(self) -> str:
        return (self.folder / "log" / "messages.log").read_text()

    def channels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ari("GET", "/channels")
        return result


class App:
    """`ivr run` as a separate process, the way an admin runs it."""

    def __init__(self, pbx: Pbx, log: Path, env: dict[str, str] | None = None,
                 config: Path | None = None, command: str = "run") -> None:
        self.pbx = pbx
        self.log = log
        self._out = open(log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(config or pbx.config), command],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_connected(self, connection: int = 1) -> None:
        try:
            until(lambda: f"(connection {connection})" in self.text(), 30,
                  f"ARI connection {connection}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the app's log:\n{self.text()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
