"""GET /api/stats and `ivr stats` / `ivr calls` over a database: read only, the supervisor's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr import cli
from ivr.core.flow import Flow
from ivr.core.queue_log import QueueLogLine
from ivr.reports import as_csv, stats_routes
from ivr.store.migrations import upgrade
from ivr.store.queue_log import QueueLogStore

NINE = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
LINES = [QueueLogLine(NINE, "c1", "sales", "NONE", "ENTERQUEUE", ("", "600", "1")),
         QueueLogLine(NINE + 25, "c1", "sales", "ana", "CONNECT", ("25", "c1-agent-1", "3")),
         QueueLogLine(NINE + 85, "c1", "sales", "ana", "COMPLETEAGENT", ("25", "60", "1")),
         QueueLogLine(NINE + 60, "c2", "sales", "NONE", "ENTERQUEUE", ("", "601", "1")),
         QueueLogLine(NINE + 70, "c2", "sales", "NONE", "ABANDON", ("1", "1", "10"))]


async def test_the_supervisor_reads_stats_an_agent_may_not_and_a_wrong_period_says_why(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await QueueLogStore(engine).add(LINES, [])

    app = web.Application()
    app.router.add_routes(stats_routes(engine, lambda: Flow({}, {}), 5.0,
                                       lambda request: request.headers.get("X-Who") == "supervisor"))
    async with TestClient(TestServer(app)) as client:
        query = "/api/stats?from=2026-12-07T00:00%2B00:00&to=2026-12-07T23:59%2B00:00&interval=day"
        answer = await client.get(query, headers={"X-Who": "supervisor"})
        assert answer.status == 200
        [row] = (await answer.json())["stats"]
        assert (row["offered"], row["answered"], row["abandoned"], row["service_level"],
                row["service_level_with_abandons"], row["average_speed_of_answer"]) == (2, 1, 1, 0.0, 50.0, 25.0)
        assert (await client.get(query, headers={"X-Who": "ana"})).status == 403
        wrong = await client.get("/api/stats?from=today&to=2026-12-07", headers={"X-Who": "supervisor"})
        assert (wrong.status, await wrong.json()) == (400, {"error": "from: 'today' is not a date (2026-12-07) "
                                                                     "or a time (2026-12-07T10:00)"})


def test_csv_cells_never_start_a_formula() -> None:
    assert as_csv([{"caller": "=1+2", "did": "100"}], ("caller", "did")) == "caller,did\n'=1+2,100\n"


def test_ivr_calls_does_not_migrate_a_fresh_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["calls", "--from", "2026-12-07", "--csv"]) == cli.EXIT_FAILED
    assert "has `ivr run` run on this database" in capsys.readouterr().err
    assert cli.main(["stats", "--from", "2026-12-08", "--to", "2026-12-07"]) == cli.EXIT_CONFIG
    assert "--to: '2026-12-07' is not after from '2026-12-08'" in capsys.readouterr().err
