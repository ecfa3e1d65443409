"""Call records survive PostgreSQL going away for a minute while calls are served, and the app
being killed while it replays them (issue 16)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from tests.integration import sipp
from tests.integration.harness import App, Pbx, until
from tests.integration.tcp_proxy import TcpProxy

OUTAGE = 60.0
CALLS = 30


def _counts(url: str) -> list[int]:
    """Rows, distinct record keys and distinct channels in the test's own database."""
    query = ("SELECT count(*), count(DISTINCT record_id), count(DISTINCT channel_id) FROM ivr_calls "
             "WHERE flow = 'demo-flow'")
    out = subprocess.run(["psql", url, "-Atc", query], capture_output=True, text=True, check=True).stdout
    return [int(n) for n in out.strip().split("|")]


@contextmanager
def _holding(url: str, spool: Path, index: int) -> Iterator[Callable[[], None]]:
    """The spool's record ``index`` inserted in a transaction kept open until committed."""
    record = json.loads(spool.read_bytes().splitlines()[index])
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(url.replace("postgresql", "postgres")))
    try:
        loop.run_until_complete(connection.execute("BEGIN"))
        loop.run_until_complete(connection.execute(
            "INSERT INTO ivr_calls (record_id, channel_id, caller, did, flow, started_at, ended_at, "
            "digits, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            record["record_id"], record["channel_id"], record["caller"], record["did"], record["flow"],
            datetime.fromisoformat(record["started_at"]), datetime.fromisoformat(record["ended_at"]),
            record["digits"], record["outcome"]))
        yield lambda: loop.run_until_complete(connection.execute("COMMIT"))
    finally:
        loop.run_until_complete(connection.close())
        loop.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("killed", [False, True], ids=["served-on", "killed-during-replay"])
def test_call_records_survive_a_database_outage(pbx: Pbx, tmp_path: Path, postgres: str,
                                                killed: bool) -> None:
    proxy = TcpProxy(5432)
    spool = tmp_path / "state" / "spool" / "call-records-ivr.jsonl"
    env = {"IVR_DATABASE__URL": postgres.replace(":5432/", f":{proxy.port}/"),
           "IVR_STATE_DIR": str(tmp_path / "state"), "IVR_ARI__PASSWORD": pbx.password}
    app = App(pbx, tmp_path / "app.log", env=env)
    try:
        app.wait_connected(1)
        proxy.cut(refuse_for=OUTAGE)
        cut_at = time.monotonic()
        result = sipp.call(pbx.sip_port, "100", "1#", tmp_path, count=CALLS, at_once=10)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        until(lambda: f"spool depth {CALLS} " in app.text(), 10, "every record in the spool")
        assert time.monotonic() - cut_at < OUTAGE, "the calls outlasted the outage"
        assert _counts(postgres)[0] == 0
        if killed:
            # The 15th record, inserted by the test in a transaction left open: the replay's
            # first batch (10) is stored, its second waits on that record's key, and the app is
            # killed there. The test's transaction then commits, as if the app's own had
            # committed an instant before the kill.
            with _holding(postgres, spool, 14) as commit:
                until(lambda: "spool depth 20 " in app.text().partition(f"spool depth {CALLS} ")[2],
                      OUTAGE + 20, "the replay's first batch")
                app.process.kill()
                app.stop()
                commit()
            app = App(pbx, tmp_path / "again.log", env=env)
        until(lambda: "spool depth 0 " in app.text(), OUTAGE + 20, "the spool to be replayed")
        print(f"spool empty {time.monotonic() - cut_at - OUTAGE:.1f} s after the database came back")
    finally:
        app.stop()
        proxy.close()

    assert _counts(postgres) == [CALLS, CALLS, CALLS]
    assert not spool.read_bytes()
