"""Every call served by the app leaves one record, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import App, Pbx


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"IVR_DATABASE__URL": f"sqlite:///{tmp_path / 'calls.sqlite3'}"}
        return
    name = f"ivr_e2e_{secrets.token_hex(4)}"
    psql = ["psql", "-h", "127.0.0.1", "-d", "test", "-qc"]
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True)
    yield {"IVR_DATABASE__URL": f"postgresql://127.0.0.1:5432/{name}"}
    subprocess.run([*psql, f'DROP DATABASE "{name}" WITH (FORCE)'], check=True)


def test_a_served_call_leaves_its_record(pbx: Pbx, tmp_path: Path, database: dict[str, str]) -> None:
    app = App(pbx, tmp_path / "app.log", env=database)
    try:
        app.wait_connected(1)
        report = pbx.call("100", "--dtmf", "2468#")
    finally:
        app.stop()
    listed = pbx.ivr("calls", "--json", env=database)

    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["did"] == "100"
    assert records[0]["digits"] == "2468"
    assert records[0]["customer_id"] == "2468"
    assert records[0]["nodes"] == "identification:demo > message:thanks > hangup"
    assert records[0]["outcome"] == "hung up by the flow"
    assert records[0]["hangup_cause"] == "hung up by the flow (normal)"
    assert records[0]["answered_at"] >= records[0]["started_at"]
    assert report["hangup_cause"] == 16
