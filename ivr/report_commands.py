"""`ivr calls`, `ivr stats` and `ivr doctor`: what was recorded (the call records, the
queue_log's service levels) and what the deployment looks like, printed as text, JSON or CSV; the
reading is in ivr.reports and ivr.doctor."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.core.caller_id import visible
from ivr.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from ivr.flow_file import load_flow
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.store.call_log import CallRecord


def add_report_commands(commands: Any, make: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    """``make(commands, name, help)`` adds one subcommand (ivr.cli._command)."""
    calls = make(commands, "calls", "list the latest call records (time, caller, DID, "
                 "duration, customer ID, nodes, CRM, outcome)")
    calls.add_argument("--limit", type=int, default=20)
    calls.add_argument("--json", action="store_true", help="one JSON object per line")
    calls.add_argument("--csv", action="store_true", help="comma-separated values with a header line")
    _period_arguments(calls, required=False)
    calls.set_defaults(command=_calls)

    stats = make(commands, "stats", "service-level stats from the queue_log per campaign and interval: "
                 "offered, answered, abandoned, service level, average speed of answer and handle time")
    _period_arguments(stats, required=True)
    stats.add_argument("--campaign", default="", help="one campaign (default: all)")
    stats.add_argument("--interval", choices=["15", "30", "60", "day"], default="60", help="minutes, or day")
    stats.add_argument("--csv", action="store_true", help="comma-separated values with a header line")
    stats.add_argument("--json", action="store_true", help="one JSON object per line")
    stats.add_argument("--plot", metavar="FILE", default="", help="also draw the intervals into FILE "
                       "(PNG; needs matplotlib: pip install 'ivr[bench]')")
    stats.set_defaults(command=_stats)

    doctor = make(commands, "doctor", "check the deployment (ARI transport and password, AMI and "
                  "FastAGI exposure, Asterisk's version, the dialplan) and say how to fix it")
    doctor.add_argument("--json", action="store_true", help="one JSON object per finding, one per line")
    doctor.set_defaults(command=_doctor)


def _period_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--from", dest="start", required=required,
                        help="from this date or time (2026-12-07, 2026-12-07T10:00; local time)")
    parser.add_argument("--to", dest="end", required=required,
                        help="to before this time, or through this date")


def _report(settings: Settings, read: Callable[[Any], Awaitable[list[Any]]]) -> list[Any] | int:
    """Read-only: the schema is not migrated. A wrong period or an unreadable database is a
    message and an exit code, not a traceback."""
    from ivr.reports import ReportUnavailable
    from ivr.store.engine import database_url, open_engine

    async def reading() -> list[Any]:
        engine = open_engine(database_url(settings))
        try:
            return await read(engine)
        finally:
            await engine.dispose()
    try:
        return asyncio.run(reading())
    except ValueError as exc:
        print(f"ivr: --{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ReportUnavailable as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.core.stats import period
    from ivr.reports import STATS_COLUMNS, as_csv, stats_rows, stats_text

    def read(engine: Any) -> Awaitable[list[dict[str, Any]]]:
        start, end = period(args.start, args.end)
        return stats_rows(engine, load_flow(settings.flow_path), start, end, args.interval,
                          settings.reports.short_abandon, args.campaign)
    rows = _report(settings, read)
    if isinstance(rows, int):
        return rows
    if args.plot:
        from ivr.stats_plot import PlotUnavailable, plot
        try:
            plot(rows, Path(args.plot))
        except PlotUnavailable as exc:
            print(f"ivr: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"ivr: {len(rows)} interval(s) drawn into {args.plot}", file=sys.stderr)
    if args.csv:
        print(as_csv(rows, STATS_COLUMNS), end="")
    elif args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(stats_text(rows))
    return EXIT_OK


def _calls(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.reports import CALL_COLUMNS, as_csv, call_records

    records = _report(settings, lambda engine: call_records(engine, args.limit, args.start, args.end))
    if isinstance(records, int):
        return records
    if args.csv:
        print(as_csv([record.__dict__ for record in records], CALL_COLUMNS), end="")
        return EXIT_OK
    for record in records:
        if args.json:
            print(json.dumps(record.__dict__, default=lambda moment: moment.isoformat(),
                             ensure_ascii=False))
        else:
            print(call_line(record))
    return EXIT_OK


def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    from ivr import doctor

    findings = doctor.gather(settings, load_flow(settings.flow_path))
    if args.json:
        print("\n".join(json.dumps(finding.as_dict()) for finding in findings))
    else:
        print(doctor.text(findings))
    return EXIT_FAILED if doctor.failed(findings) else EXIT_OK


def call_line(record: CallRecord) -> str:
    """One record as ``ivr calls`` prints it; what came from outside is shown escaped, so a
    record stored raw (before escaping at the boundary) cannot drive the terminal either."""
    seconds = (record.ended_at - record.started_at).total_seconds()
    crm = f"  CRM {record.crm_outcome} {record.crm_ms} ms" if record.crm_outcome else ""
    return visible(f"{record.started_at:%Y-%m-%d %H:%M:%S} {record.caller or '-':>12} -> "
                   f"{record.did or '-':<8} {seconds:6.1f} s  id {record.customer_id or '-':<10} "
                   f"{record.nodes or '-'}{crm}  => {record.outcome}")
