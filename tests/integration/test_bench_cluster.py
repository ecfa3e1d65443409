"""The cluster's sizing measurements (`ivr bench claims`, `ivr bench kamailio`, `ivr bench
sizing`) run end to end, shortened, against the real PostgreSQL, Kamailio and SIPp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import REPO

SERVER = "postgresql://127.0.0.1:5432/postgres"


def ivr(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "ivr", "bench", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_claims_kamailio_and_the_sizing_page(tmp_path: Path) -> None:
    ivr("claims", "--nodes", "2", "--seconds", "2", "--repeat", "1", "--calls", "50", "--server", SERVER,
        "--out", str(tmp_path))
    ivr("kamailio", "--calls", "200", "--rate", "100", "--hold-ms", "200", "--repeat", "1", "--server", SERVER,
        "--work", str(tmp_path / "kamailio"), "--out", str(tmp_path))
    ivr("sizing", "--calls", "10000", "--dir", str(tmp_path), "--benchmark", str(REPO / "docs" / "benchmarks.json"))

    claims = json.loads((tmp_path / "claims.json").read_text())
    runs = [run for run in claims["runs"] if run["kind"] == "claims"]
    assert [run["nodes"] for run in runs] == [2]
    assert all(run["granted"] > 0 and run["refused"] == 0 and run["errors"] == 0 for run in runs), runs
    assert all(run["cpu_ms_per_claim"]["postgresql"] > 0 for run in runs), runs
    kamailio = json.loads((tmp_path / "kamailio.json").read_text())["runs"][0]
    assert kamailio["successful"] == 200, kamailio
    assert sum(kamailio["per_node"].values()) == 200, kamailio
    if not kamailio["node_changes"]:
        assert kamailio["per_node"] == {"n0": 100, "n1": 100}, kamailio
    assert kamailio["cpu_ms_per_call"]["kamailio"] > 0
    page = (tmp_path / "sizing.md").read_text()
    assert "# Sizing 10,000 concurrent calls" in page
    assert "nodes** of" in page
