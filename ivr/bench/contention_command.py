"""`ivr bench contention`: its arguments; the run is in contention.py, the report in
contention_report.py."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr.exit_codes import EXIT_FAILED, EXIT_OK
from ivr.settings import Settings

MakeCommand = Callable[[Any, str, str], argparse.ArgumentParser]
OUT = "docs/bench"


def add_contention_command(measures: Any, make: MakeCommand) -> None:
    contention = make(measures, "contention", "more callers than agents: how soon a freed agent is rung "
                      "for a waiting caller, the app's campaign against Asterisk's Queue(), interleaved")
    contention.add_argument("--quick", action="store_true",
                            help="a 1-minute smoke run: 30 callers, 5 agents ringing 1 s and talking 2 s, "
                            "once")
    contention.add_argument("--callers", type=int, default=200, help="callers of each run (default 200)")
    contention.add_argument("--arrival", type=float, default=20.0,
                            help="seconds over which the callers come (default 20)")
    contention.add_argument("--agents", type=int, default=20, help="agents (default 20)")
    contention.add_argument("--ring-ms", type=int, default=2000,
                            help="how long an agent's phone rings before it answers (default 2000)")
    contention.add_argument("--talk-ms", type=int, default=5000,
                            help="how long the agent talks before hanging up (default 5000)")
    contention.add_argument("--repeat", type=int, default=3, help="runs of each way (default 3)")
    contention.add_argument("--work", default=".ivr/bench-contention",
                            help="folder of the run's configuration, logs and raw events, emptied first")
    contention.add_argument("--out", default=OUT,
                            help=f"folder of contention.json and contention.md (default {OUT})")
    contention.set_defaults(command=_contention)


def _say(line: str) -> None:
    print(f"ivr bench contention: {line}", file=sys.stderr, flush=True)


def _contention(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.bench.contention import QUICK, ContentionPlan, measure_contention
    from ivr.bench.contention_report import write_report

    # SIGTERM ends the run like Ctrl-C: the stage stops the processes and the PBX it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_FAILED))
    plan = QUICK if args.quick else ContentionPlan(
        callers=args.callers, arrival_seconds=args.arrival, agents=args.agents, ring_ms=args.ring_ms,
        talk_ms=args.talk_ms, repeat=args.repeat)
    measured = measure_contention(plan, Path(args.work).resolve(), _say)
    for path in write_report(measured, Path(args.out)):
        print(f"wrote {path}")
    return EXIT_OK if measured["summary"]["goal_met"] is not None else EXIT_FAILED
