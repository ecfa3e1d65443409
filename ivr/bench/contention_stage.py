"""The contention benchmark's stage: a bundled PBX instance of its own ("contention", free
ports), N agents each with a phone of its own (one SIPp process answers at every agent's
address), members both of the app's campaign and of Asterisk's queue, and `ivr run`."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ivr.bench.bench_pbx import BenchPbx
from ivr.bench.sipp_scenarios import busy_agent
from ivr.bench.stage import free_media_port, free_port, settings_text
from ivr.pbx import control
from ivr.pbx.instance import instance_for
from ivr.settings import load_settings

APP_DID = "7000"
QUEUE_EXTEN = "bench-queue"
RING_TIMEOUT = 10
"""Seconds an agent's phone rings, in the campaign and in queues.conf alike."""

FLOW = """# `ivr bench contention`: every caller waits in one campaign of {count} agents.
[entry]
default = "campaign:contention"

[campaign.contention]
id = 1
agents = [{agents}]
strategy = "longest-idle"
ring_timeout = {ring_timeout}
max_wait = 600
wrap_up = 0
"""

AGENT = """
[agent.{name}]
phone = "sip:{name}@127.0.0.1:{port}"
ready_at_start = true
"""


def agent_names(count: int) -> list[str]:
    """
    >>> agent_names(3)
    ['c1', 'c2', 'c3']
    """
    return [f"c{number}" for number in range(1, count + 1)]


def flow_text(count: int, phones_port: int) -> str:
    """The campaign and its agents, every phone at the one SIPp process.

    >>> text = flow_text(2, 5070)
    >>> 'agents = ["c1", "c2"]' in text, 'phone = "sip:c2@127.0.0.1:5070"' in text
    (True, True)
    """
    names = agent_names(count)
    text = FLOW.format(count=count, agents=", ".join(f'"{n}"' for n in names), ring_timeout=RING_TIMEOUT)
    return text + "".join(AGENT.format(name=name, port=phones_port) for name in names)


def queue_members(count: int) -> str:
    """The static members of queues.conf's bench-contention: the same agents' endpoints.

    >>> print(queue_members(2))
    member => PJSIP/agent-c1,0,c1
    member => PJSIP/agent-c2,0,c2
    """
    return "\n".join(f"member => PJSIP/agent-{name},0,{name}" for name in agent_names(count))


class ContentionStage(BenchPbx):
    """Its own processes, apart from the main benchmark's Stage: the two benchmarks run with
    different agents, flows and instances, and may run at once."""

    def __init__(self, folder: Path, agents: int, ring_ms: int, talk_ms: int) -> None:
        self.folder = folder
        self.agents, self.ring_ms, self.talk_ms = agents, ring_ms, talk_ms
        self.phones_port = free_port(socket.SOCK_DGRAM)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        shutil.rmtree(folder, ignore_errors=True)  # the events and logs of an earlier run
        folder.mkdir(parents=True)
        (folder / "flow.toml").write_text(flow_text(agents, self.phones_port))
        self.config = folder / "ivr.toml"
        self.config.write_text(settings_text(folder, "contention", self.sip_port, free_port(),
                                             (26000, 31999)))
        self.settings = load_settings(self.config)
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        instance = instance_for(self.settings)
        members = instance.host_path(f"{instance.home}/etc/queue_members.conf")
        members.parent.mkdir(parents=True, exist_ok=True)
        members.write_text(queue_members(self.agents) + "\n")
        control.up(self.settings, self.folder / "pbx-log")
        phones = self.folder / "phones.xml"
        phones.write_text(busy_agent(self.ring_ms, self.talk_ms))
        self._spawn("phones", ["sipp", "-sf", str(phones), "-i", "127.0.0.1", "-p", str(self.phones_port),
                               "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-nostdin", "-trace_err",
                               "-error_file", str(self.folder / "phones-errors.log")])
        self.app = self._spawn("app", [sys.executable, "-m", "ivr", "--config", str(self.config), "run"])
        self._wait_for_app(self.folder / "app.log")

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        self.children.append(process)
        return process

    def _wait_for_app(self, log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "(connection 1)" not in log.read_text():
            if self.app.poll() is not None or time.monotonic() > deadline:
                raise control.PbxError(f"`ivr run` did not connect; see {log}")
            time.sleep(0.2)

    def close(self) -> None:
        for process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        control.down(self.settings)
