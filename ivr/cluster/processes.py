"""The cluster's processes: each node's bundled Asterisk and its `ivr run`, then Kamailio; their
pids and logs in the cluster's state folder. Everything else is in the pure modules."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.cluster.kamailio_cfg import SET_ID, Files, dispatcher_list, parse_dispatcher_list, render
from ivr.cluster.location_db import ensure_tables, ha1, set_subscribers
from ivr.cluster.plan import Node, Plan
from ivr.pbx import control
from ivr.secrets import ensure_secret

Progress = Callable[[str], None]
READY_TIMEOUT = 30.0


class ClusterError(Exception):
    pass


def kamailio_files(plan: Plan) -> Files:
    return Files(plan.state / "kamailio")


def _pid_file(plan: Plan, node: Node) -> Path:
    return plan.state / "nodes" / f"{node.name}.pid"


def _log_file(plan: Plan, node: Node) -> Path:
    return plan.state / "nodes" / f"{node.name}.log"


def running(pid_file: Path) -> int | None:
    """The pid in the file if that process still runs (not a zombie)."""
    try:
        pid = int(pid_file.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state == "Z" else pid


def up(plan: Plan, progress: Progress = lambda line: None) -> None:
    files = kamailio_files(plan)
    files.runtime.mkdir(parents=True, exist_ok=True)
    if asyncio.run(ensure_tables(plan.database)):
        progress("Kamailio's tables made in the database")
    agents = plan.registering_agents()
    realm = plan.kamailio.listen
    asyncio.run(set_subscribers(plan.database, realm, {
        f"agent-{name}": ha1(f"agent-{name}", realm, ensure_secret(plan.phones / f"agent-{name}"))
        for name in agents}))
    progress(f"{len(agents)} agent phone(s) may register as agent-NAME, each with the password in "
             f"{plan.phones}/agent-NAME")
    write_kamailio_files(plan, files)
    for node in plan.nodes:
        progress(f"node {node.name}: PBX at {node.sip_uri}")
        control.up(node.settings, node.settings.state_path / "pbx" / node.settings.pbx.instance)
        _start_app(plan, node, progress)
    start_kamailio(files, progress)


def write_kamailio_files(plan: Plan, files: Files) -> None:
    """Kamailio's configuration and dispatcher list, checked by Kamailio itself."""
    files.config.write_text(render(plan, files), encoding="utf-8")
    files.dispatcher_list.write_text(dispatcher_list(plan.nodes), encoding="utf-8")
    checked = subprocess.run(["kamailio", "-c", "-f", str(files.config)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise ClusterError(f"{files.config}: Kamailio refuses it:\n{checked.stderr[-2000:]}")


def _start_app(plan: Plan, node: Node, progress: Progress) -> None:
    pid_file = _pid_file(plan, node)
    if running(pid_file):
        progress(f"node {node.name}: ivr run already running")
        return
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with _log_file(plan, node).open("ab") as log:
        command = [sys.executable, "-m", "ivr", "--config", str(node.config.resolve()), "run"]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=node.config.resolve().parent)
    pid_file.write_text(str(process.pid))
    api = node.settings.api
    url = f"http://{api.bind}:{api.port}/readyz"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"node {node.name}: ivr run exited ({process.returncode}); see "
                               f"{_log_file(plan, node)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    progress(f"node {node.name}: ivr run ready (pid {process.pid})")
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise ClusterError(f"node {node.name}: {url} not ready after {READY_TIMEOUT:g} s; see "
                       f"{_log_file(plan, node)}")


def start_kamailio(files: Files, progress: Progress) -> None:
    """Kamailio with the files rendered in ``files`` (or its dispatcher list reloaded if it runs),
    until its control socket answers."""
    if running(files.pid_file):
        # The dispatcher list may have changed; the rest of the file needs a restart.
        rpc(files, "dispatcher.reload")
        progress("Kamailio already running: dispatcher list reloaded")
        return
    with files.log.open("ab") as log:
        # -DD: the main process stays in front (no daemon), so its pid is the one to stop.
        command = ["kamailio", "-DD", "-E", "-f", str(files.config), "-Y", str(files.runtime)]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    files.pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"Kamailio exited ({process.returncode}); see {files.log}")
        if files.control_socket.exists() and _answers(files):
            progress(f"Kamailio up (pid {process.pid}), log {files.log}")
            return
        time.sleep(0.1)
    raise ClusterError(f"Kamailio's control socket {files.control_socket} not answering; see {files.log}")


def _answers(files: Files) -> bool:
    try:
        rpc(files, "core.version")
    except ClusterError:
        return False
    return True


def rpc(files: Files, *command: str) -> str:
    done = subprocess.run(["kamcmd", "-s", f"unix:{files.control_socket}", *command],
                          capture_output=True, text=True, timeout=5)
    if done.returncode != 0:
        raise ClusterError(f"kamcmd {' '.join(command)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


@dataclass(frozen=True)
class NodeStatus:
    name: str
    uri: str
    pbx_pid: int | None
    app_pid: int | None
    dispatcher: str
    """Kamailio's flags for the node (AP active, IP inactive, DX disabled...); "" if unknown."""


def status(plan: Plan) -> tuple[int | None, list[NodeStatus]]:
    files = kamailio_files(plan)
    kamailio = running(files.pid_file)
    flags = parse_dispatcher_list(rpc(files, "dispatcher.list")) if kamailio else {}
    return kamailio, [NodeStatus(node.name, node.sip_uri, control.status(node.settings).pid,
                                 running(_pid_file(plan, node)), flags.get(node.sip_uri, ""))
                      for node in plan.nodes]


def drain(plan: Plan, name: str, undo: bool = False) -> None:
    """Kamailio sends the node no new call (disabled: not probed back in); its calls go on."""
    node = plan.node(name)
    files = kamailio_files(plan)
    if not running(files.pid_file):
        raise ClusterError(f"Kamailio is not running ({files.pid_file}); run ivr cluster up")
    rpc(files, "dispatcher.set_state", "ap" if undo else "d", str(SET_ID), node.sip_uri)


def down(plan: Plan, progress: Progress = lambda line: None) -> None:
    files = kamailio_files(plan)
    stop(files.pid_file, "Kamailio", progress)
    for node in plan.nodes:
        stop(_pid_file(plan, node), f"node {node.name}: ivr run", progress)
        if control.down(node.settings):
            progress(f"node {node.name}: PBX stopped")


def stop(pid_file: Path, what: str, progress: Progress, timeout: float = 15.0) -> None:
    """SIGTERM to the process of ``pid_file``, SIGKILL after ``timeout``; the file removed."""
    pid = running(pid_file)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running(pid_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    if running(pid_file):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    progress(f"{what} stopped")
