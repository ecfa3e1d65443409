"""Two bundled Asterisk nodes, each with its ivr run, behind a real Kamailio (`ivr cluster`):
SIPp callers spread over both, a drained node takes no new call, a node killed with kill -9 is
out within three probe intervals. Agents registered to Kamailio are not covered yet."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import DEMO_FLOW
from tests.integration.harness import REPO, until
from tests.integration.sipp import scenario
from tests.ports import free_port

PROBE_SECONDS = 1
NODE = """
state_dir = "state-{name}"
[ari]
app = "ivr-{name}"
url = "http://{address}:{http}"
[pbx]
instance = "cl-{pid}-{name}"
root = "{root}"
bind = "{address}"
http_port = {http}
ami_port = {ami}
rtp_start = {rtp}
rtp_end = {rtp_end}
apps = ["ivr-a", "ivr-b"]
proxy = "{proxy}"
[agi]
port = {agi}
[api]
port = {api}
[database]
url = "{database}"
[flows]
file = "flow.toml"
"""


def ivr(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr", *args, "--file", str(folder / "cluster.toml")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.fixture
def cluster(tmp_path: Path, postgres: str) -> Iterator[Path]:
    proxy = f"127.0.0.10:{free_port(socket.SOCK_DGRAM)}"
    (tmp_path / "flow.toml").write_text(DEMO_FLOW)
    for i, name in enumerate("ab"):
        (tmp_path / f"node-{name}.toml").write_text(NODE.format(
            name=name, address=f"127.0.0.{2 + i}", http=free_port(), ami=free_port(), agi=free_port(),
            api=free_port(), rtp=33000 + 500 * i, rtp_end=33499 + 500 * i, proxy=proxy, database=postgres,
            root=REPO / ".pbx" / "root", pid=os.getpid()))
    host, port = proxy.split(":")
    (tmp_path / "cluster.toml").write_text(
        f'[kamailio]\nlisten = "{host}"\nport = {port}\nprobe_interval = {PROBE_SECONDS}\n'
        '[node.a]\nconfig = "node-a.toml"\n[node.b]\nconfig = "node-b.toml"\n')
    up = ivr(tmp_path, "cluster", "up")
    try:
        assert up.returncode == 0, up.stderr
        yield tmp_path
    finally:
        ivr(tmp_path, "cluster", "down")
        for name in "ab":
            shutil.rmtree(REPO / ".pbx" / "root" / "srv" / "ivr" / f"cl-{os.getpid()}-{name}", ignore_errors=True)


def burst(folder: Path, count: int) -> None:
    host, port = re.findall(r'listen = "(.*)"\nport = (\d+)', (folder / "cluster.toml").read_text())[0]
    (folder / "uac.xml").write_text(scenario("1234#"))
    done = subprocess.run(["sipp", f"{host}:{port}", "-sf", "uac.xml", "-s", "100", "-m", str(count),
                           "-l", str(count), "-r", "10", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
                           "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)), "-timeout", "40s",
                           "-timeout_error", "-nostdin"], capture_output=True, text=True, timeout=60, cwd=folder)
    assert done.returncode == 0, done.stdout[-1500:]


def calls_per_node(folder: Path) -> dict[str, int]:
    """Kamailio's line for each call it sent: ``node sip:127.0.0.2:5060``."""
    log = (folder / ".cluster" / "kamailio" / "kamailio.log").read_text()
    return {node: log.count(f"node sip:127.0.0.{n}:") for node, n in (("a", 2), ("b", 3))}


def status(folder: Path) -> str:
    return ivr(folder, "cluster", "status").stdout


def test_calls_spread_drain_and_a_killed_node(cluster: Path) -> None:
    burst(cluster, 10)
    assert calls_per_node(cluster) == {"a": 5, "b": 5}

    assert ivr(cluster, "cluster", "drain", "b").returncode == 0
    burst(cluster, 4)
    assert calls_per_node(cluster) == {"a": 9, "b": 5}
    assert ivr(cluster, "cluster", "drain", "b", "--undo").returncode == 0
    until(lambda: "b sip:127.0.0.3" in status(cluster) and "drained" not in status(cluster), 5, "b back")

    pids = [int(p) for p in re.findall(r"node b .*?PBX running \(pid (\d+)\), ivr run running \(pid (\d+)\)",
                                      status(cluster))[0]]
    killed = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    until(lambda: "inactive" in status(cluster), 3 * PROBE_SECONDS + 2, "node b inactive")
    out_after = time.monotonic() - killed
    burst(cluster, 4)

    assert calls_per_node(cluster) == {"a": 13, "b": 5}
    assert out_after < 3 * PROBE_SECONDS + 2
