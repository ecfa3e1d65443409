"""Reports over the database for `ivr stats`, `ivr calls` and ``GET /api/stats``: read only (a
report never migrates the schema; a database the app never ran on says so)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.core.caller_id import visible
from ivr.core.flow import Flow
from ivr.core.stats import INTERVALS, Interval, period
from ivr.store.call_log import CallLog, CallRecord
from ivr.store.queue_log import QueueLogStore

STATS_COLUMNS = ("campaign", "start", "offered", "answered", "answered_in_time", "service_level",
                 "service_level_with_abandons", "abandoned", "short_abandoned", "timeouts", "exit_key",
                 "other_exits", "average_speed_of_answer", "average_handle_time", "longest_wait")


class ReportUnavailable(Exception):
    pass


async def stats_rows(engine: AsyncEngine, flow: Flow, start: datetime, end: datetime, interval: Interval,
                     short_abandon: float, campaign: str = "") -> list[dict[str, Any]]:
    try:
        counts = await QueueLogStore(engine).stats(flow, start, end, interval, short_abandon, campaign)
    except SQLAlchemyError as exc:
        raise ReportUnavailable(f"the queue_log table cannot be read ({type(exc).__name__}); has `ivr run` "
                                "run on this database since version 10 of its schema?") from exc
    return [{name: count.row()[name] for name in STATS_COLUMNS} for count in counts]


CALL_COLUMNS = ("started_at", "ended_at", "answered_at", "channel_id", "caller", "did", "flow", "digits",
                "customer_id", "nodes", "crm_outcome", "crm_ms", "destination", "agent", "hangup_cause",
                "outcome", "notes")


async def call_records(engine: AsyncEngine, limit: int, first: str | None,
                       last: str | None) -> list[CallRecord]:
    """The latest records; with ``first`` or ``last`` (``--from``, ``--to``), of that period."""
    start = end = None
    if first or last:
        start, end = period(first or "1970-01-01", last or datetime.now().astimezone().date().isoformat())
    try:
        return await CallLog(engine).recent(limit, start, end)
    except SQLAlchemyError as exc:
        raise ReportUnavailable(f"the call records cannot be read ({type(exc).__name__}); has `ivr run` "
                                "run on this database?") from exc


def as_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """Text from outside (caller ids) is escaped, and a leading = + - @ quoted, so that a
    spreadsheet opening the file runs no formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cell(row.get(name)) for name in columns)
    return out.getvalue()


def _cell(value: Any) -> str:
    """
    >>> _cell(None), _cell(66.7), _cell("=cmd|' /C calc'!A0")
    ('', '66.7', "'=cmd|' /C calc'!A0")
    """
    if value is None:
        return ""
    text = visible(value.isoformat() if isinstance(value, datetime) else str(value))
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def stats_text(rows: list[dict[str, Any]]) -> str:
    head = (f"{'campaign':<12} {'interval':<16} {'offered':>7} {'answered':>8} {'SL %':>6} "
            f"{'SL2 %':>6} {'abandoned':>9} {'short':>5} {'timeout':>7} {'key':>4} {'ASA s':>6} "
            f"{'AHT s':>6} {'longest':>7}")
    lines = [head]
    for row in rows:
        start = datetime.fromisoformat(row["start"])
        lines.append(visible(
            f"{row['campaign']:<12} {start:%Y-%m-%d %H:%M} {row['offered']:>7} {row['answered']:>8} "
            f"{_shown(row['service_level']):>6} {_shown(row['service_level_with_abandons']):>6} "
            f"{row['abandoned']:>9} {row['short_abandoned']:>5} {row['timeouts']:>7} {row['exit_key']:>4} "
            f"{_shown(row['average_speed_of_answer']):>6} {_shown(row['average_handle_time']):>6} "
            f"{row['longest_wait']:>7}"))
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def stats_routes(engine: AsyncEngine, flow: Callable[[], Flow], short_abandon: float,
                 is_supervisor: Callable[[web.Request], bool]) -> list[web.RouteDef]:
    """``GET /api/stats?from=&to=&campaign=&interval=`` for the supervisor."""

    async def handler(request: web.Request) -> web.Response:
        if not is_supervisor(request):
            return web.json_response({"error": "only the supervisor reads the stats"}, status=403)
        query = request.query
        interval = query.get("interval", "60")
        if interval not in INTERVALS:
            wrong = f"interval: {interval!r} is not one of {', '.join(INTERVALS)}"
            return web.json_response({"error": wrong}, status=400)
        try:
            start, end = period(query.get("from", ""), query.get("to", ""))
            rows = await stats_rows(engine, flow(), start, end, interval, short_abandon,
                                    query.get("campaign", ""))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except ReportUnavailable as exc:
            return web.json_response({"error": str(exc)}, status=503)
        return web.json_response({"from": start.isoformat(), "to": end.isoformat(), "interval": interval,
                                  "stats": rows})

    return [web.get("/api/stats", handler)]
