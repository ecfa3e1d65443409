"""`ivr doctor` against the bundled Asterisk: all good by default, and a FastAGI bound beyond the
loopback found, with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Pbx


def test_the_bundled_pbx_passes_and_an_exposed_fastagi_fails(pbx: Pbx, tmp_path: Path) -> None:
    result = pbx.ivr("doctor", "--json")
    findings = {finding["check"]: finding for finding in map(json.loads, result.stdout.splitlines())}
    assert result.returncode == 0, result.stdout + result.stderr
    assert {check: finding["status"] for check, finding in findings.items()} == {
        "ari transport": "ok", "ari password": "ok", "ami exposure": "ok", "fastagi bind": "ok",
        "asterisk version": "ok", "dialplan": "ok"}
    assert findings["asterisk version"]["message"].startswith("Asterisk 22.")
    assert "ivr-inbound, ivr-stasis, ivr-fallback" in findings["dialplan"]["message"]

    exposed = pbx.configured(tmp_path, extra="")
    exposed.write_text(exposed.read_text().replace("[agi]\n", '[agi]\nbind = "0.0.0.0"\n'))
    result = pbx.ivr("doctor", config=exposed)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "problem   fastagi bind: ivr agi listens on 0.0.0.0:" in result.stdout
    assert "fix: set agi.bind = 127.0.0.1" in result.stdout
