"""Two bundled Asterisk nodes, each with its ivr run, behind a real Kamailio (`ivr cluster`):
SIPp callers spread over both, a drained node finishes its calls and takes no new one, a node
killed with kill -9 is out within three probe intervals; a burst to agents registered to
Kamailio, served in arrival order across the nodes, one node killed in the middle: its calls
recorded by the other."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ivr.secrets import ari_password
from ivr.settings import Settings, load_settings
from ivr.store.engine import database_url, open_engine
from tests.integration.conftest import DEMO_FLOW
from tests.integration.harness import REPO, until
from tests.integration.sip_agents import SipAgent
from tests.integration.sipp import scenario
from tests.integration.test_one_line import moments
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


@contextmanager
def running_cluster(folder: Path, database: str, flow: str) -> Iterator[Path]:
    proxy = f"127.0.0.10:{free_port(socket.SOCK_DGRAM)}"
    (folder / "flow.toml").write_text(flow)
    for i, name in enumerate("ab"):
        (folder / f"node-{name}.toml").write_text(NODE.format(
            name=name, address=f"127.0.0.{2 + i}", http=free_port(), ami=free_port(), agi=free_port(),
            api=free_port(), rtp=33000 + 500 * i, rtp_end=33499 + 500 * i, proxy=proxy, database=database,
            root=REPO / ".pbx" / "root", pid=os.getpid()))
    host, port = proxy.split(":")
    (folder / "cluster.toml").write_text(
        f'[kamailio]\nlisten = "{host}"\nport = {port}\nprobe_interval = {PROBE_SECONDS}\n'
        '[node.a]\nconfig = "node-a.toml"\n[node.b]\nconfig = "node-b.toml"\n')
    up = ivr(folder, "cluster", "up")
    try:
        assert up.returncode == 0, up.stderr
        yield folder
    finally:
        ivr(folder, "cluster", "down")
        for name in "ab":
            shutil.rmtree(REPO / ".pbx" / "root" / "srv" / "ivr" / f"cl-{os.getpid()}-{name}", ignore_errors=True)


@pytest.fixture
def cluster(tmp_path: Path, postgres: str) -> Iterator[Path]:
    with running_cluster(tmp_path, postgres, DEMO_FLOW) as folder:
        yield folder


def identifying_callers(folder: Path, count: int, rate: int = 10) -> subprocess.Popen[str]:
    """``count`` SIPp callers through Kamailio to the demo's identification (100), ``rate`` a second."""
    host, port = re.findall(r'listen = "(.*)"\nport = (\d+)', (folder / "cluster.toml").read_text())[0]
    (folder / "uac.xml").write_text(scenario("1234#"))
    return subprocess.Popen(["sipp", f"{host}:{port}", "-sf", "uac.xml", "-s", "100", "-m", str(count),
                             "-l", str(count), "-r", str(rate), "-i", "127.0.0.1",
                             "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1",
                             "-mp", str(free_port(socket.SOCK_DGRAM)), "-timeout", "40s", "-timeout_error", "-nostdin"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder)


def burst(folder: Path, count: int) -> None:
    callers = identifying_callers(folder, count)
    out, _ = callers.communicate(timeout=60)
    assert callers.returncode == 0, out[-1500:]


def calls_per_node(folder: Path) -> dict[str, int]:
    """Kamailio's line for each call it sent: ``node sip:127.0.0.2:5060``."""
    log = (folder / ".cluster" / "kamailio" / "kamailio.log").read_text()
    return {node: log.count(f"node sip:127.0.0.{n}:") for node, n in (("a", 2), ("b", 3))}


def status(folder: Path) -> str:
    return ivr(folder, "cluster", "status").stdout


def test_calls_spread_drain_and_a_killed_node(cluster: Path) -> None:
    burst(cluster, 10)
    assert calls_per_node(cluster) == {"a": 5, "b": 5}

    callers = identifying_callers(cluster, 6, rate=2)
    until(lambda: calls_per_node(cluster)["b"] == 6, 10, "a call on b")
    assert ivr(cluster, "cluster", "drain", "b").returncode == 0
    drained_at, sent = datetime.now(), calls_per_node(cluster)
    out, _ = callers.communicate(timeout=60)
    assert callers.returncode == 0, out[-1500:]  # b's calls too went on to their end
    burst(cluster, 4)
    assert calls_per_node(cluster) == {"a": 20 - sent["b"], "b": sent["b"]}
    node_b = (cluster / ".cluster" / "nodes" / "b.log").read_text()
    assert any(datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f") > drained_at
               for at in re.findall(r"^(\S+ \S+) INFO ivr\.call: call \S+: finished", node_b, re.M))
    assert ivr(cluster, "cluster", "drain", "b", "--undo").returncode == 0
    until(lambda: "b sip:127.0.0.3" in status(cluster) and "drained" not in status(cluster), 5, "b back")

    pids = node_pids(cluster, "b")
    killed = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    until(lambda: "inactive" in status(cluster), 3 * PROBE_SECONDS + 2, "node b inactive")
    out_after = time.monotonic() - killed
    burst(cluster, 4)

    assert calls_per_node(cluster) == {"a": 24 - sent["b"], "b": sent["b"]}
    assert out_after < 3 * PROBE_SECONDS + 2


AGENTS = 20
CALLERS = 100
BURST_FLOW = """
[entry]
"500" = "campaign:sales"

[campaign.sales]
agents = [{names}]
ring_timeout = 5.0
max_wait = 120.0
on_max_wait = "hangup:bye"

[hangup.bye]
"""
AGENT_LEG = re.compile(r"^PJSIP/agent-(\w+?)-[0-9a-f]{8}$")


def register(kamailio: str, name: str, port: int, password: str) -> str:
    """The phone of agent ``name``, answering at 127.0.0.1:``port``, registers to Kamailio with
    ``password`` (RFC 2617 digest, answering the challenge); Kamailio's last status line."""
    host, kamailio_port = kamailio.split(":")
    uri, user, call_id = f"sip:{host}:{kamailio_port}", f"agent-{name}", uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)

        def send(cseq: int, authorization: str = "") -> str:
            sock.sendto((f"REGISTER {uri} SIP/2.0\r\n"
                         f"Via: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                         f"Max-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag={call_id[:8]}\r\n"
                         f"To: <sip:{user}@{host}>\r\nCall-ID: {call_id}@127.0.0.1\r\nCSeq: {cseq} REGISTER\r\n"
                         f"Contact: <sip:{user}@127.0.0.1:{port}>\r\nExpires: 3600\r\n{authorization}"
                         "Content-Length: 0\r\n\r\n").encode(), (host, int(kamailio_port)))
            return sock.recv(4096).decode(errors="replace")

        challenge = send(1)
        assert challenge.startswith("SIP/2.0 401"), challenge
        realm, nonce = (re.search(rf'{key}="([^"]*)"', challenge).group(1)  # type: ignore[union-attr]
                        for key in ("realm", "nonce"))
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:{hashlib.md5(f'REGISTER:{uri}'.encode()).hexdigest()}".encode())
        return send(2, f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                       f'uri="{uri}", response="{response.hexdigest()}", algorithm=MD5\r\n').split("\r\n")[0]


class RingSampler(threading.Thread):
    """Every 0.2 s, the agents' legs on every node (ARI): how many nodes ring or hold each."""

    def __init__(self, nodes: list[Settings]) -> None:
        super().__init__(daemon=True)
        self.nodes = [(f"{s.ari_url}/channels", (s.ari.user, ari_password(s))) for s in nodes]
        self.samples = 0
        self.doubles: list[tuple[str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=1) as client:
            while not self.done.wait(0.2):
                legs: Counter[str] = Counter()
                for url, auth in self.nodes:
                    try:
                        channels = client.get(url, auth=auth).json()
                    except (httpx.HTTPError, ValueError):
                        continue  # a node killed
                    legs.update({m.group(1) for c in channels if (m := AGENT_LEG.match(c.get("name", "")))})
                self.samples += 1
                self.doubles += [(agent, n) for agent, n in legs.items() if n > 1]


def database_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        engine = open_engine(database_url(load_settings(None, {"IVR_DATABASE__URL": url})))
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(text(query))]
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_a_burst_through_kamailio_to_registered_agents_and_a_node_killed_in_the_middle(
        tmp_path: Path, postgres: str) -> None:
    names = [f"a{n:02}" for n in range(AGENTS)]
    flow = BURST_FLOW.format(names=", ".join(f'"{n}"' for n in names)) + "".join(
        f'[agent.{n}]\nphone = "register"\nready_at_start = true\n' for n in names)
    agents = [SipAgent(name, "brief", tmp_path, calls=CALLERS, seconds=240) for name in names]
    try:
        with running_cluster(tmp_path, postgres, flow) as folder:
            kamailio = re.findall(r'listen = "(.*)"\nport = (\d+)', (folder / "cluster.toml").read_text())[0]
            phones = folder / ".cluster" / "phones"
            assert register(":".join(kamailio), "a00", agents[0].port, "wrong").startswith("SIP/2.0 401")
            for agent in agents:
                password = (phones / f"agent-{agent.name}").read_text().strip()
                assert register(":".join(kamailio), agent.name, agent.port, password) == "SIP/2.0 200 OK"
            nodes = [load_settings(folder / f"node-{name}.toml") for name in "ab"]
            sampler = RingSampler(nodes)
            sampler.start()
            b = node_pids(folder, "b")
            callers = start_burst(folder, CALLERS)
            log = folder / ".cluster" / "kamailio" / "kamailio.log"
            until(lambda: log.read_text().count("node sip:") >= CALLERS // 2, 60, "half the callers in")
            for pid in b:
                os.kill(pid, signal.SIGKILL)
            killed_at, at_kill = datetime.now(), len(log.read_text())
            left = {row[0] for row in database_rows(postgres, "SELECT channel_id FROM ivr_calls_open "
                                                              "WHERE node = 'ivr-b'")}
            callers.communicate(timeout=180)
            sampler.done.set()
            until(lambda: not database_rows(postgres, "SELECT channel_id FROM ivr_calls_open"), 30,
                  "no call left open")

            def read_records() -> dict[str, tuple[str, str]]:
                rows = database_rows(postgres, "SELECT channel_id, outcome, notes FROM ivr_calls")
                return {row[0]: (row[1], row[2]) for row in rows}
            records = until(lambda: (found := read_records()).keys() >= left and found, 5, "b's calls recorded")
            kamailio_log = log.read_text()
            calls = {node: moments((folder / ".cluster" / "nodes" / f"{node}.log").read_text()) for node in "ab"}
    finally:
        for agent in agents:
            agent.stop()

    before, after = kamailio_log[:at_kill], kamailio_log[at_kill:]
    sent = re.findall(r"node sip:127\.0\.0\.(\d):", after)
    moved = after.count("node failed (408), trying sip:127.0.0.2")
    print(f"\ncalls before the kill: a {before.count('node sip:127.0.0.2')}, b {before.count('node sip:127.0.0.3')}; "
          f"after: {len(sent)}, of which {sent.count('3')} sent to b and moved to a; ring samples "
          f"{sampler.samples}; calls b left open: {len(left)}; records {len(records)}")
    assert before.count("node sip:127.0.0.2") >= 15 and before.count("node sip:127.0.0.3") >= 15
    assert sent.count("3") == moved and sent[-10:] == ["2"] * 10  # once b was out, every call went to a
    assert sampler.samples > 20 and sampler.doubles == [], sampler.doubles

    lost = {call for call, (outcome, _) in records.items() if outcome == "app stopped during the call"}
    assert left and left <= lost
    assert all("app node ivr-b stopped during the call" in records[call][1]
               and "recorded by node ivr-a" in records[call][1] for call in lost)
    unrecorded = [call for call, seen in calls["b"].items() if call not in records
                  and seen["waiting"] < killed_at - timedelta(seconds=0.5)]
    assert not unrecorded, unrecorded
    assert all("bridged" in seen for seen in calls["a"].values()), calls["a"]

    joined = {call: seen for node in "ab" for call, seen in calls[node].items() if "bridged" in seen}
    overtaken = [(late, early) for early in joined for late in joined
                 if (joined[late]["waiting"] - joined[early]["waiting"]).total_seconds() > 1
                 and joined[late]["bridged"] < joined[early]["bridged"]]
    assert not overtaken, overtaken


def start_burst(folder: Path, count: int) -> subprocess.Popen[str]:
    """``count`` SIPp callers to 500 through Kamailio, 10 a second, each waiting for its BYE (a
    call its node lost fails after 40 s without one)."""
    host, port = re.findall(r'listen = "(.*)"\nport = (\d+)', (folder / "cluster.toml").read_text())[0]
    (folder / "caller.xml").write_text(scenario(""))
    return subprocess.Popen(["sipp", f"{host}:{port}", "-sf", "caller.xml", "-s", "500", "-m", str(count),
                             "-l", str(count), "-r", "10", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
                             "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)), "-recv_timeout", "40000",
                             "-timeout", "170s", "-nostdin"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=folder)


def node_pids(folder: Path, name: str) -> list[int]:
    """The node's Asterisk and its ivr run."""
    pids = re.findall(rf"node {name} .*?PBX running \(pid (\d+)\), ivr run running \(pid (\d+)\)", status(folder))
    assert pids, status(folder)
    return [int(pid) for pid in pids[0]]
