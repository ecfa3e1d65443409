"""The benchmark's stage: its own bundled PBX instance ("bench", free ports), the agent pool,
the CRM, the AGI spawner and `ivr run`, each a real process on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ivr.bench.bench_pbx import BenchPbx
from ivr.bench.sipp_scenarios import AGENT_POOL, CUSTOMER_ID
from ivr.pbx import control
from ivr.settings import Settings, load_settings

log = logging.getLogger("ivr.bench")
REPO = Path(__file__).resolve().parents[2]
APP_DID = "7000"
FILES_PER_CALL = 13
"""Asterisk's open files per call: two channels, each with its RTP and RTCP sockets, its timer
and alert pipe (8,000 files at 800 calls of the app); pure dialplan's CURL takes more: with
20,000 files it ran out at about 1,540 of 1,896 calls, some 12.4 files each."""
SPARE_FILES = 1024
"""Asterisk's own files beyond its calls': modules, logs, SIP and HTTP sockets."""
MAX_EVENT_DELAY, MAX_LOOP_LAG, MAX_REQUEST_TIME = 0.5, 0.2, 0.1
"""The app's admission limits on every run: far above what a load it carries shows (events a
few ms late, the loop at most tens of ms, ARI requests a few ms), reached only past its limit."""

# Each benchmark's instance has RTP ports of its own, below Linux's ephemeral ports (from 32768),
# where SIPp's own media ports are taken: `ivr bench` 10000-25999 (8,000 channels, two ports
# each), `ivr bench contention` 26000-31999.
SETTINGS = """state_dir = "{folder}/state"

[pbx]
instance = "{instance}"
root = "{root}"
http_port = {http}
sip_port = {sip}
ami_port = {ami}
rtp_start = {rtp_start}
rtp_end = {rtp_end}

[pbx.fallback]
kind = "busy"

[flows]
file = "{folder}/flow.toml"

[api]
port = {api}

[admission]
max_event_delay = {max_event_delay}
max_loop_lag = {max_loop_lag}
max_request_time = {max_request_time}

[agi]
port = {agi}

[database]
url = "sqlite+aiosqlite:///{folder}/ivr.sqlite3"
"""


def settings_text(folder: Path, instance: str, sip_port: int, agi_port: int, rtp: tuple[int, int]) -> str:
    """A benchmark's ivr.toml: its own PBX instance and ports, its files in ``folder``."""
    return SETTINGS.format(folder=folder, instance=instance, root=REPO / ".pbx" / "root", http=free_port(),
                           sip=sip_port, ami=free_port(), api=free_port(), agi=agi_port, rtp_start=rtp[0],
                           rtp_end=rtp[1], max_event_delay=MAX_EVENT_DELAY, max_loop_lag=MAX_LOOP_LAG,
                           max_request_time=MAX_REQUEST_TIME)


FLOW = """# The benchmark's flow: the caller keys a 4-digit customer id after a beep, the CRM names
# campaign 1, whose agents all answer at once (one SIPp agent pool behind every phone).
[entry]
default = "identification:customer"

[identification.customer]
prompt = ["sound:beep"]
expected_length = {digits}
attempts = 1
timeout = 5
interaction = "destination"
url = "{crm}"
deadline = 3
on_not_identified = "campaign:bench"
on_unavailable = "campaign:bench"

[campaign.bench]
id = 1
agents = [{agents}]
ring_timeout = 10
max_wait = 60
"""

AGENT = """
[agent.{name}]
phone = "sip:{name}@127.0.0.1:{port}"
ready_at_start = true
"""


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_media_port() -> int:
    """A UDP port for SIPp's media with the three above it free too: SIPp binds the next ones
    for RTCP and video, and fails the whole run when one is taken."""
    while True:
        port = free_port(socket.SOCK_DGRAM)
        probes = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()


def flow_text(crm_url: str, agents: int, pool_port: int) -> str:
    """The app's agents a1..aN, and "pool" (dialled by the two other ways), all at the pool."""
    names = [f"a{number}" for number in range(1, agents + 1)]
    text = FLOW.format(digits=len(CUSTOMER_ID), crm=crm_url, agents=", ".join(f'"{n}"' for n in names))
    return text + "".join(AGENT.format(name=name, port=pool_port) for name in [*names, "pool"])


def calls_open_files_allow() -> int:
    """How many calls Asterisk can hold at once within this machine's hard limit of open files
    (a container may not raise it: 20,000 files, some 1,900 calls)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 10**9 if hard == resource.RLIM_INFINITY else max(0, hard - SPARE_FILES) // FILES_PER_CALL


def allow_open_files(wanted: int) -> None:
    """This process's limit of open files raised to ``wanted`` (what it starts inherits it), or
    to the hard limit if it may not raise that (a container without CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.warning("open files: %d at most (the hard limit), not %d: Asterisk may run out of them "
                    "beyond about %d calls", hard, wanted, (hard - SPARE_FILES) // FILES_PER_CALL)


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Stage(BenchPbx):
    def __init__(self, folder: Path, agents: int) -> None:
        """``agents``: as many as the most calls of the run, each caller having its own."""
        self.folder = folder
        self.agents = agents
        self.crm_port, self.agi_port = free_port(), free_port()
        self.pool_port = free_port(socket.SOCK_DGRAM)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.lag_file = folder / "loop-lag.txt"
        shutil.rmtree(folder, ignore_errors=True)  # agents' states and logs of an earlier run
        folder.mkdir(parents=True)
        (folder / "flow.toml").write_text(flow_text(self.crm_url, agents, self.pool_port))
        config = folder / "ivr.toml"
        config.write_text(settings_text(folder, "bench", self.sip_port, self.agi_port, (10000, 25999)))
        self.config = config
        self.settings: Settings = load_settings(config)
        self.children: list[subprocess.Popen[bytes]] = []
        self.crm: subprocess.Popen[bytes] | None = None
        self.crm_load: tuple[float, float] | None = None

    @property
    def crm_url(self) -> str:
        return f"http://127.0.0.1:{self.crm_port}/identify"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api.port}/metrics"

    @property
    def metrics_token(self) -> Path:
        return self.settings.state_path / "api" / "metrics-token"

    def start(self) -> None:
        allow_open_files(self.agents * FILES_PER_CALL + SPARE_FILES)
        control.up(self.settings, self.folder / "pbx-log")
        for name, value in (("BENCH_CRM_URL", self.crm_url), ("BENCH_AGI", f"127.0.0.1:{self.agi_port}")):
            code, output = control.cli(self.settings, f"dialplan set global {name} {value}")
            if code:
                raise control.PbxError(f"cannot set {name}: {output}")
        self.pool = self._spawn("agent-pool", ["sipp", "-sf", str(self._write("agent-pool.xml", AGENT_POOL)),
                                               "-i", "127.0.0.1", "-p", str(self.pool_port), "-mi",
                                               "127.0.0.1", "-mp", str(free_media_port()),
                                               "-nostdin", "-trace_err",
                                               "-error_file", str(self.folder / "agent-pool-errors.log")])
        self.spawner = self._spawn("agi-spawner", [sys.executable, "-m", "ivr.bench.agi_spawner", "--port",
                                                   str(self.agi_port), "--crm-url", self.crm_url])
        self.app = self._start_app("app")
        _wait_for_port(self.agi_port)

    def restart_app(self, name: str, env: dict[str, str]) -> None:
        """`ivr run` again, logging to ``name``.log, with the settings of ``env``
        (IVR_SECTION__FIELD) over the stage's."""
        self._stop(self.app)
        self.app = self._start_app(name, env)

    def _start_app(self, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        app = self._spawn(name, [sys.executable, "-m", "ivr", "--config", str(self.config), "run"],
                          {"IVR_LOOP_LAG_FILE": str(self.lag_file), **(env or {})})
        self._wait_for_app(app, self.folder / f"{name}.log")
        return app

    def _write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(text)
        return path

    def _spawn(self, name: str, command: list[str],
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                       env={**os.environ, **(env or {})})
        self.children.append(process)
        return process

    @staticmethod
    def _wait_for_app(app: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "(connection 1)" not in log.read_text():
            if app.poll() is not None or time.monotonic() > deadline:
                raise control.PbxError(f"`ivr run` did not connect; see {log}")
            time.sleep(0.2)

    def use_crm(self, latency: float, failure_rate: float) -> None:
        """The CRM with this latency and failure rate, started again only when they change."""
        if self.crm_load == (latency, failure_rate):
            return
        if self.crm is not None:
            self._stop(self.crm)
        self.crm = self._spawn("crm", [sys.executable, "-m", "ivr.bench.crm_server", "--port",
                                       str(self.crm_port), "--latency", str(latency), "--failure-rate",
                                       str(failure_rate)])
        self.crm_load = (latency, failure_rate)
        _wait_for_port(self.crm_port)

    def close(self) -> None:
        for process in reversed(self.children):
            self._stop(process)
        control.down(self.settings)

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
