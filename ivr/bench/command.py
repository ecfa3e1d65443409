"""`ivr bench`, its measurements for sizing a cluster (`ivr bench claims|kamailio|sizing`) and the
contention run (`ivr bench contention`): the arguments and the printing; the work is in
driver.py, claims_run.py, kamailio_run.py, sizing_report.py and contention_command.py."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.bench.contention_command import add_contention_command
from ivr.bench.own_database import DEFAULT_SERVER
from ivr.bench.plan import MAX_CALLS, QUICK_REPEAT, REPEAT, Plan, ramp_top
from ivr.exit_codes import EXIT_FAILED, EXIT_OK
from ivr.settings import Settings

MakeCommand = Callable[[Any, str, str], argparse.ArgumentParser]
SIZING_DIR = "docs/bench"
SERVER_HELP = (f"the PostgreSQL server's maintenance database, where the run makes and drops its own "
               f"(default {DEFAULT_SERVER})")


def add_bench_command(commands: Any, make: MakeCommand) -> None:
    bench = make(commands, "bench", "measure the app against pure dialplan and AGI, write a report; "
                 "claims, kamailio and sizing measure what a cluster needs")
    bench.add_argument("--quick", action="store_true", help="a 5-minute smoke run at low load")
    bench.add_argument("--out", default=".ivr/bench", help="folder of the report (default .ivr/bench)")
    bench.add_argument("--work", default=".ivr/bench-stage",
                       help="folder of the run's configuration, logs and raw events, emptied first")
    bench.add_argument("--crm-failure-rate", type=float, default=0.0, help="share of CRM requests that fail")
    bench.add_argument("--repeat", type=_positive, help=f"runs of each load, interleaved (default {REPEAT}; "
                       f"{QUICK_REPEAT} with --quick)")
    bench.add_argument("--max-calls", type=_positive, default=MAX_CALLS,
                       help=f"the ramp's top: it climbs until each way fails or this (default {MAX_CALLS})")
    bench.set_defaults(command=_bench)
    measures = bench.add_subparsers(metavar="MEASURE")
    _claims_command(measures, make)
    _kamailio_command(measures, make)
    add_contention_command(measures, make)
    sizing = make(measures, "sizing", "size a number of concurrent calls from the committed runs of "
                  "ivr bench, ivr bench claims and ivr bench kamailio, into a markdown page")
    sizing.add_argument("--calls", type=int, default=10_000, help="concurrent calls (default 10000)")
    sizing.add_argument("--dir", default=SIZING_DIR, help=f"where claims.json and kamailio.json are, and "
                        f"sizing.md goes (default {SIZING_DIR})")
    sizing.add_argument("--benchmark", default="docs/benchmarks.json", help="ivr bench's report")
    sizing.set_defaults(command=_sizing)


def _positive(text: str) -> int:
    """
    >>> _positive("3")
    3
    >>> _positive("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 0: expected a whole number, 1 or more
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number, 1 or more")
    return value


def _claims_command(measures: Any, make: MakeCommand) -> None:
    claims = make(measures, "claims", "agents' claims per second that PostgreSQL grants to 1, 2, 4 app "
                  "nodes (each its own process), against one connection's round trips and commits")
    claims.add_argument("--nodes", default="1,2,4",
                        help="numbers of app nodes, comma-separated (default 1,2,4)")
    claims.add_argument("--seconds", type=float, default=15.0,
                        help="measured window of each run (default 15)")
    claims.add_argument("--concurrency", type=int, default=8,
                        help="offers in flight on each node (default 8)")
    claims.add_argument("--calls", type=int, default=2500,
                        help="calls in progress each node holds and renews meanwhile (default 2500: "
                        "10,000 at 4 nodes)")
    claims.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    claims.add_argument("--server", default=DEFAULT_SERVER, help=SERVER_HELP)
    claims.add_argument("--out", default=SIZING_DIR, help=f"folder of claims.json (default {SIZING_DIR})")
    claims.set_defaults(command=_claims)


def _kamailio_command(measures: Any, make: MakeCommand) -> None:
    kamailio = make(measures, "kamailio", "Kamailio's CPU per call, with the configuration ivr cluster "
                    "renders, before SIPp answering machines, against SIPp's own")
    kamailio.add_argument("--calls", type=int, default=2000, help="calls of each run (default 2000)")
    kamailio.add_argument("--rate", type=float, default=200.0, help="calls started per second (default 200)")
    kamailio.add_argument("--hold-ms", type=int, default=1000,
                          help="each call's length, ACK to BYE (default 1000)")
    kamailio.add_argument("--repeat", type=int, default=3, help="runs (default 3)")
    kamailio.add_argument("--server", default=DEFAULT_SERVER, help=SERVER_HELP)
    kamailio.add_argument("--work", default=".ivr/bench-kamailio", help="Kamailio's files and logs")
    kamailio.add_argument("--out", default=SIZING_DIR, help=f"folder of kamailio.json (default {SIZING_DIR})")
    kamailio.set_defaults(command=_kamailio)


def _say(line: str) -> None:
    print(f"ivr bench: {line}", file=sys.stderr, flush=True)


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.bench.driver import benchmark
    from ivr.bench.report import write_report
    from ivr.bench.stage import calls_open_files_allow

    # SIGTERM ends the run like Ctrl-C: the stage stops the processes and the PBX it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_FAILED))
    out = Path(args.out)
    repeat = args.repeat or (QUICK_REPEAT if args.quick else REPEAT)
    top, capped_by = ramp_top(args.max_calls, calls_open_files_allow())
    if capped_by and not args.quick:
        _say(f"the ramp stops at {top} calls, not {args.max_calls}: {capped_by}")
    plan = Plan(args.quick, repeat, top, args.crm_failure_rate)
    measured = benchmark(Path(args.work).resolve(), plan)
    measured["plan"]["capped_by"] = "" if args.quick else capped_by
    for path in write_report(measured, out):
        print(f"wrote {path}")
    return EXIT_OK


def _write(folder: str, name: str, measured: dict[str, Any]) -> int:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return EXIT_OK


def _claims(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.bench.claims_run import ClaimsPlan, measure_claims

    # Each run migrates a database of its own: the migrations' lines would drown the figures.
    logging.getLogger("ivr.store").setLevel(logging.WARNING)
    nodes = tuple(int(n) for n in args.nodes.split(","))
    plan = ClaimsPlan(nodes=nodes, seconds=args.seconds, concurrency=args.concurrency, calls=args.calls,
                      repeat=args.repeat, server=args.server)
    return _write(args.out, "claims.json", measure_claims(plan, _say))


def _kamailio(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.bench.kamailio_run import KamailioPlan, measure_kamailio

    # SIGTERM ends the run like Ctrl-C: Kamailio and the SIPp nodes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_FAILED))
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan = KamailioPlan(work, calls=args.calls, rate=args.rate, hold_ms=args.hold_ms, repeat=args.repeat,
                        server=args.server)
    return _write(args.out, "kamailio.json", measure_kamailio(plan, _say))


def _sizing(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.bench.sizing_report import markdown

    folder = Path(args.dir)
    try:
        docs = [json.loads(path.read_text(encoding="utf-8")) for path in
                (Path(args.benchmark), folder / "claims.json", folder / "kamailio.json")]
    except (OSError, ValueError) as exc:
        print(f"ivr bench sizing: {exc}; run ivr bench, ivr bench claims and ivr bench kamailio first",
              file=sys.stderr)
        return EXIT_FAILED
    benchmark, claims, kamailio = docs
    page = folder / "sizing.md"
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    page.write_text(markdown(benchmark, claims, kamailio, args.calls, generated) + "\n", encoding="utf-8")
    print(f"wrote {page}")
    return EXIT_OK
