"""`ivr bench contention --quick` end to end: its own bundled Asterisk, `ivr run`, Queue() and
SIPp callers and agents, both ways serving every caller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import REPO


def test_the_quick_contention_run_serves_every_caller_both_ways(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ivr", "bench", "contention", "--quick", "--work",
                           str(tmp_path / "work"), "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=110)

    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads((tmp_path / "contention.json").read_text())
    runs = measured["runs"]
    assert [(r["way"], r["completed"], r["failed"], r["channels_left_over"]) for r in runs] == [
        ("app", 30, 0, 0), ("app_queue", 30, 0, 0)]
    # 30 callers for 5 agents: the 25 after the first five each wait for an agent to free up.
    assert all(r["offers"] == 30 and r["free_to_ring_ms"]["count"] >= 20 for r in runs), runs
    assert runs[0]["cpu_ms_per_offer"]["app"] > 0 and runs[1]["cpu_ms_per_offer"]["asterisk"] > 0
    assert measured["summary"]["ratio"] > 0
    page = (tmp_path / "contention.md").read_text()
    assert "# Benchmark: callers waiting for agents, the app against Queue()" in page
    assert "Agent free → ringing p99, app / app_queue:" in page
