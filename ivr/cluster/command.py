"""`ivr cluster up|status|drain|down`: the arguments and the printing; the work is in
processes.py."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr.cluster import processes
from ivr.cluster.location_db import SchemaMissing
from ivr.cluster.plan import Plan, load_plan
from ivr.config_file import ConfigError
from ivr.pbx.control import PbxError
from ivr.settings import Settings

FILE_HELP = "the cluster file (default ./cluster.toml): Kamailio's address and the nodes' settings files"
MakeCommand = Callable[[Any, str, str], argparse.ArgumentParser]


def add_cluster_command(commands: Any, make: MakeCommand) -> None:
    cluster = make(commands, "cluster", "several bundled Asterisk nodes, each with its ivr run, behind "
                   "Kamailio: up, status, drain, down")
    actions = cluster.add_subparsers(required=True, metavar="ACTION")
    for name, help_text, action in (
        ("up", "make Kamailio's tables, start each node's PBX and ivr run, then Kamailio", _up),
        ("status", "each node's PBX, app and state in Kamailio", _status),
        ("drain", "send a node no new calls (its calls go on); --undo takes it back", _drain),
        ("down", "stop Kamailio, then each node's ivr run and PBX", _down),
    ):
        parser = make(actions, name, help_text)
        parser.add_argument("--file", default="cluster.toml", help=FILE_HELP)
        parser.set_defaults(command=action)
    actions.choices["drain"].add_argument("node")
    actions.choices["drain"].add_argument("--undo", action="store_true", help="take the node back")
    actions.choices["status"].add_argument("--json", action="store_true", help="print one JSON object")


Action = Callable[[Settings, argparse.Namespace], int]


def _with_plan(work: Callable[[Plan, argparse.Namespace], int]) -> Action:
    def run(_settings: Settings, args: argparse.Namespace) -> int:
        try:
            return work(load_plan(Path(args.file)), args)
        except ConfigError as exc:
            print(f"ivr cluster: invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        except (processes.ClusterError, SchemaMissing, PbxError, OSError) as exc:
            print(f"ivr cluster: {exc}", file=sys.stderr)
            return 1
    return run


def _say(line: str) -> None:
    print(f"ivr cluster: {line}", file=sys.stderr, flush=True)


@_with_plan
def _up(plan: Plan, args: argparse.Namespace) -> int:
    processes.up(plan, _say)
    print(f"cluster up: Kamailio at {plan.kamailio.address}, nodes "
          + ", ".join(f"{n.name} ({n.sip_uri})" for n in plan.nodes))
    return 0


@_with_plan
def _status(plan: Plan, args: argparse.Namespace) -> int:
    kamailio, nodes = processes.status(plan)
    if args.json:
        print(json.dumps({"kamailio": kamailio, "nodes": [n.__dict__ for n in nodes]}))
    else:
        print(f"Kamailio {plan.kamailio.address}: {_pid(kamailio)}")
        for n in nodes:
            print(f"node {n.name} {n.uri}: PBX {_pid(n.pbx_pid)}, ivr run {_pid(n.app_pid)}, "
                  f"Kamailio {_flags(n.dispatcher)}")
    return 0 if kamailio and all(n.pbx_pid and n.app_pid for n in nodes) else 1


def _pid(pid: int | None) -> str:
    return f"running (pid {pid})" if pid else "stopped"


def _flags(flags: str) -> str:
    """
    >>> _flags("AP"), _flags("IP"), _flags("DX"), _flags("")
    ('active', 'inactive (probes fail)', 'drained', 'unknown')
    """
    states = {"A": "active", "I": "inactive (probes fail)", "T": "trying", "D": "drained"}
    return states.get(flags[:1], "unknown")


@_with_plan
def _drain(plan: Plan, args: argparse.Namespace) -> int:
    processes.drain(plan, args.node, args.undo)
    print(f"node {args.node}: " + ("takes calls again" if args.undo else "drained (no new calls)"))
    return 0


@_with_plan
def _down(plan: Plan, args: argparse.Namespace) -> int:
    processes.down(plan, _say)
    print("cluster down")
    return 0
