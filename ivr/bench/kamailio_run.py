"""`ivr bench kamailio`: Kamailio's CPU per call, with the configuration `ivr cluster` renders
(ivr.cluster.kamailio_cfg), before SIPp answering machines standing in for the Asterisk nodes,
so that only Kamailio's work is measured; a SIPp caller sends short calls (INVITE, 200, ACK,
a pause, BYE) at a set rate through it. SIPp's own CPU per call is the baseline.

Kamailio's CPU is the user and system time of its main process and of the workers it forked
(/proc), read before and after the burst, less what it spends idle over as long (timers and
probes of the nodes), divided by the calls."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.bench.machine import basics
from ivr.bench.own_database import DEFAULT_SERVER, own_database
from ivr.bench.process_stats import busy_share, children, cpu_between, cpu_of, read_machine_ticks
from ivr.bench.sipp_scenarios import AGENT_POOL
from ivr.bench.stage import free_port
from ivr.cluster.kamailio_cfg import Files, parse_dispatcher_list
from ivr.cluster.location_db import ensure_tables
from ivr.cluster.plan import KamailioSettings, Node, Plan
from ivr.cluster.processes import ClusterError, rpc, running, start_kamailio, stop, write_kamailio_files
from ivr.settings import Settings

Progress = Callable[[str], None]
LISTEN = "127.0.0.10"
NODE_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@dataclass(frozen=True)
class KamailioPlan:
    work: Path
    """Kamailio's files, its log and SIPp's; emptied of Kamailio's pid first."""
    calls: int = 2000
    rate: float = 200.0
    """Calls started per second."""
    hold_ms: int = 1000
    """How long each call lasts between the ACK and the BYE."""
    nodes: int = 2
    repeat: int = 3
    idle_seconds: float = 5.0
    server: str = DEFAULT_SERVER


def measure_kamailio(plan: KamailioPlan, progress: Progress) -> dict[str, Any]:
    if not 1 <= plan.nodes <= len(NODE_ADDRESSES):
        raise ValueError(f"nodes: 1 to {len(NODE_ADDRESSES)} (got {plan.nodes})")
    started, machine = datetime.now(UTC), basics()
    runs = []
    for repeat in range(1, plan.repeat + 1):
        run = asyncio.run(_with_database(plan))
        cpu = run["cpu_ms_per_call"]
        progress(f"repeat {repeat}: {run['successful']}/{plan.calls} calls in {run['seconds']:.1f} s; "
                 f"CPU ms per call: Kamailio {cpu['kamailio']:.3f}, SIPp caller {cpu['sipp_caller']:.3f}")
        runs.append({"repeat": repeat, **run})
    return {"started": started.isoformat(timespec="seconds"), "machine": machine, "kamailio": _version(),
            "plan": {**asdict(plan), "work": str(plan.work)}, "runs": runs}


def _version() -> str:
    done = subprocess.run(["kamailio", "-v"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0].removeprefix("version: ").strip() if done.stdout else "unknown"


async def _with_database(plan: KamailioPlan) -> dict[str, Any]:
    """Kamailio's location table (usrloc reads it at start) in a database of the run's own."""
    async with own_database(plan.server) as url:
        await ensure_tables(url)
        return await asyncio.to_thread(_one_run, plan, url)


def _cluster_plan(plan: KamailioPlan, database: str) -> Plan:
    nodes = tuple(Node(f"n{i}", Path(f"node-{i}.toml"),
                       Settings(pbx={"bind": address, "sip_port": free_port(socket.SOCK_DGRAM, address)}))
                  for i, address in enumerate(NODE_ADDRESSES[:plan.nodes]))
    kamailio = KamailioSettings(listen=LISTEN, port=free_port(socket.SOCK_DGRAM, LISTEN))
    return Plan(Path("ivr bench kamailio"), plan.work, database, kamailio, nodes)


def _one_run(plan: KamailioPlan, database: str) -> dict[str, Any]:
    cluster = _cluster_plan(plan, database)
    files = Files(plan.work / "kamailio")
    files.runtime.mkdir(parents=True, exist_ok=True)
    files.log.unlink(missing_ok=True)
    write_kamailio_files(cluster, files)
    answering = [_answering_node(plan.work, node) for node in cluster.nodes]
    try:
        start_kamailio(files, lambda line: None)
        main = running(files.pid_file)
        if main is None:
            raise ClusterError(f"Kamailio stopped; see {files.log}")
        _until_nodes_active(files, len(cluster.nodes))
        return _measure(plan, cluster, files, main, answering)
    finally:
        stop(files.pid_file, "Kamailio", lambda line: None)
        for process in answering:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def _answering_node(work: Path, node: Node) -> subprocess.Popen[bytes]:
    """SIPp on the node's address answering every call at once with 200, as a node whose app
    answers the call (SIPp's built-in answerer sends 180 first, which two of Kamailio's workers
    may relay after the 200: the caller then drops the call); -aa answers Kamailio's OPTIONS
    probes, so the node is active."""
    address = node.settings.pbx.bind
    scenario = work / "answering-node.xml"
    scenario.write_text(AGENT_POOL, encoding="utf-8")
    with (work / f"sipp-{node.name}.log").open("wb") as log:
        return subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", address, "-p", str(node.settings.pbx.sip_port),
             "-mp", str(free_port(socket.SOCK_DGRAM, address)), "-aa", "-nostdin"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _until_nodes_active(files: Files, nodes: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flags = parse_dispatcher_list(rpc(files, "dispatcher.list"))
        if len(flags) == nodes and all(flag.startswith("A") for flag in flags.values()):
            return
        time.sleep(0.2)
    raise ClusterError(f"the answering nodes are not active in Kamailio after {timeout:g} s: {flags}")


def _kamailio_cpu(main: int) -> dict[int, float]:
    return cpu_of([main, *children(main)])


def _measure(plan: KamailioPlan, cluster: Plan, files: Files, main: int,
             answering: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    log_start = files.log.stat().st_size
    idle_before = _kamailio_cpu(main)
    time.sleep(plan.idle_seconds)
    idle = cpu_between(idle_before, _kamailio_cpu(main)) / plan.idle_seconds
    nodes = [p.pid for p in answering]
    before = (_kamailio_cpu(main), cpu_of(nodes), resource.getrusage(resource.RUSAGE_CHILDREN),
              read_machine_ticks(), os.getloadavg())
    began = time.monotonic()
    caller = _call(plan, cluster)
    seconds = time.monotonic() - began
    after = (_kamailio_cpu(main), cpu_of(nodes), resource.getrusage(resource.RUSAGE_CHILDREN),
             read_machine_ticks())
    kamailio = cpu_between(before[0], after[0])
    caller_cpu = (after[2].ru_utime + after[2].ru_stime) - (before[2].ru_utime + before[2].ru_stime)
    counts = sipp_counts(caller.stdout)
    with files.log.open("rb") as whole:
        whole.seek(log_start)
        log = whole.read().decode(errors="replace")
    per_call = 1000 / plan.calls
    return {
        "calls": plan.calls, "rate": plan.rate, "hold_ms": plan.hold_ms, "nodes": len(cluster.nodes),
        "sipp_exit": caller.returncode, **counts, "seconds": seconds,
        "per_node": {node.name: log.count(f"node {node.sip_uri}\n") for node in cluster.nodes},
        "node_changes": _NODE_CHANGE.findall(log),
        "kamailio_processes": 1 + len(children(main)), "idle_cpu_ms_per_s": idle * 1000,
        "cpu_ms_per_call": {"kamailio": max(0.0, kamailio - idle * seconds) * per_call,
                            "kamailio_with_idle": kamailio * per_call, "sipp_caller": caller_cpu * per_call,
                            "sipp_nodes": cpu_between(before[1], after[1]) * per_call},
        "machine_busy": busy_share(before[3], after[3]), "load_average": list(before[4]),
    }


def _call(plan: KamailioPlan, cluster: Plan) -> subprocess.CompletedProcess[str]:
    timeout = plan.calls / plan.rate + plan.hold_ms / 1000 + 30
    errors = plan.work / "sipp-caller-errors.log"
    errors.unlink(missing_ok=True)  # SIPp appends to it
    command = ["sipp", "-sn", "uac", cluster.kamailio.address, "-s", "100", "-m", str(plan.calls),
               "-r", f"{plan.rate:g}", "-d", str(plan.hold_ms), "-i", "127.0.0.1",
               "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_port(socket.SOCK_DGRAM)),
               "-nostdin", "-timeout", f"{timeout:.0f}s", "-timeout_error",
               "-trace_err", "-error_file", str(errors)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30, cwd=plan.work)
    (plan.work / "sipp-caller.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    return done


_NODE_CHANGE = re.compile(r"node (?:down|up): \S+")
"""The lines of the cluster's event routes dispatcher:dst-down and dst-up (kamailio_cfg)."""
_COUNT = re.compile(r"^\s*(Successful|Failed) call\s*\|\s*\d+\s*\|\s*(\d+)", re.MULTILINE)


def sipp_counts(screen: str) -> dict[str, int]:
    """Calls that succeeded and failed, from the cumulative column of SIPp's last screen.

    >>> sipp_counts('''  Successful call        |        0                  |     1999
    ...   Failed call            |        0                  |        1                 ''')
    {'successful': 1999, 'failed': 1}
    """
    found = {kind.lower(): int(count) for kind, count in _COUNT.findall(screen)}
    return {"successful": found.get("successful", 0), "failed": found.get("failed", 0)}
