"""One line across app nodes: two `ivr run` processes on one Asterisk and one PostgreSQL serve
the callers of a campaign in their order of arrival, whatever node holds each (issue 18 measured
one node serving all of its callers before any of the other's)."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from ivr.settings import load_settings
from ivr.store.engine import database_url, open_engine
from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import SipAgent
from tests.integration.sipp import scenario
from tests.ports import free_port

CALLERS = 6

FLOW = """
[entry]
"500" = "campaign:sales"

[campaign.sales]
agents = ["ana"]
ring_timeout = 5.0
max_wait = 120.0
on_max_wait = "hangup:bye"

[hangup.bye]

[agent.ana]
phone = "{phone}"
"""

LINE = re.compile(r"^(\S+ \S+) INFO ivr\.campaigns: call (\S+): (waiting in campaign sales|bridged with agent)")


def moments(log: str) -> dict[str, dict[str, datetime]]:
    """Per call: when it started waiting, when it was bridged (from the app's log)."""
    found: dict[str, dict[str, datetime]] = {}
    for line in log.splitlines():
        if match := LINE.match(line):
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            found.setdefault(match.group(2), {})["waiting" if "waiting" in match.group(3) else "bridged"] = at
    return found


def test_callers_on_two_nodes_are_served_in_their_order_of_arrival(pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    ana = SipAgent("ana", "brief", tmp_path, calls=CALLERS)
    settings = f'\n[database]\nurl = "{postgres}"\n\n[ari]\napp = "ivr-a"\n'
    config = pbx.configured(tmp_path, FLOW.format(phone=ana.phone), settings)
    config.write_text(config.read_text().replace("[pbx]\n", '[pbx]\napps = ["ivr-a", "ivr-b"]\n', 1))
    nodes: list[App] = []
    callers: list[subprocess.Popen[str]] = []
    try:
        assert pbx.ivr("pbx", "up", config=config).returncode == 0
        ports = [free_port(), free_port()]
        api = f"http://127.0.0.1:{ports[0]}/api"
        for app, port in zip(("ivr-a", "ivr-b"), ports, strict=True):
            nodes.append(App(pbx, tmp_path / f"{app}.log", config=config,
                             env={"IVR_ARI__APP": app, "IVR_API__PORT": str(port)}))
        for node in nodes:
            node.wait_connected(1)
        for _ in range(CALLERS):  # the dialplan gives each call to the next node in turn
            callers.append(subprocess.Popen([sys.executable, "-m", "ivr", "--config", str(config), "call", "500",
                                             "--json", "--timeout", "100"], stdout=subprocess.PIPE, text=True,
                                            cwd=REPO))
            time.sleep(0.6)
        until(lambda: sum(n.text().count("waiting in campaign sales") for n in nodes) == CALLERS, 30,
              "every caller waiting")
        token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        httpx.post(f"{api}/agents/ana/login", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        for caller in callers:
            caller.communicate(timeout=120)
    finally:
        for node in nodes:
            node.stop()
        ana.stop()
        pbx.ivr("pbx", "up")

    calls = {call: seen for node in nodes for call, seen in moments(node.text()).items()}
    per_node = [len(moments(node.text())) for node in nodes]
    order = sorted(calls, key=lambda call: calls[call]["waiting"])
    served = sorted(calls, key=lambda call: calls[call].get("bridged", datetime.max))
    print(f"\ncallers per node: {per_node}; arrival order served: {order == served}")
    assert all(count >= 2 for count in per_node), per_node
    assert all("bridged" in seen for seen in calls.values()), calls
    overtaken = [(late, early) for early in order for late in order
                 if (calls[late]["waiting"] - calls[early]["waiting"]).total_seconds() > 1
                 and calls[late]["bridged"] < calls[early]["bridged"]]
    assert not overtaken, ("a caller served before one who came more than 1 s earlier", overtaken, calls)


BURST = 30
TEAM = ("ana", "bo", "cy", "di")
TEAM_FLOW = """
[entry]
"500" = "campaign:sales"

[campaign.sales]
agents = [{names}]
ring_timeout = 5.0
max_wait = 180.0
on_max_wait = "hangup:bye"

[hangup.bye]
"""


def test_thirty_callers_on_two_nodes_and_agents_changed_through_both_at_once(
        pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    """The issue's measured case: agents logged in through both nodes together, a burst of 30
    callers; and one agent changed through both nodes at once, 20 times."""
    agents = [SipAgent(name, "brief", tmp_path, calls=BURST, seconds=240) for name in TEAM]
    flow = TEAM_FLOW.format(names=", ".join(f'"{n}"' for n in TEAM)) + "".join(
        f'[agent.{a.name}]\nphone = "{a.phone}"\n' for a in agents)
    settings = f'\n[database]\nurl = "{postgres}"\n\n[ari]\napp = "ivr-a"\n'
    config = pbx.configured(tmp_path, flow, settings)
    config.write_text(config.read_text().replace("[pbx]\n", '[pbx]\napps = ["ivr-a", "ivr-b"]\n', 1))
    nodes: list[App] = []
    try:
        assert pbx.ivr("pbx", "up", config=config).returncode == 0
        ports = [free_port(), free_port()]
        apis = [f"http://127.0.0.1:{port}/api" for port in ports]
        for app, port in zip(("ivr-a", "ivr-b"), ports, strict=True):
            nodes.append(App(pbx, tmp_path / f"{app}.log", config=config,
                             env={"IVR_ARI__APP": app, "IVR_API__PORT": str(port)}))
        for node in nodes:
            node.wait_connected(1)
        token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}

        def through_both(agent: str, *bodies: tuple[str, dict[str, str] | None]) -> list[int]:
            """Each node's API gets its change at the same moment."""
            with ThreadPoolExecutor(len(apis)) as pool:
                return list(pool.map(lambda api, change: httpx.post(
                    f"{api}/agents/{agent}/{change[0]}", json=change[1], headers=headers).status_code,
                    apis, bodies))

        changed = [through_both("di", ("login", None), ("login", None))]
        for n in range(20):
            changed.append(through_both("di", ("pause", {"reason": f"a-{n}"}), ("pause", {"reason": f"b-{n}"})))
        stored = database_row(postgres, "SELECT state, reason FROM ivr_agents WHERE name = 'di'")
        until(lambda: all(agent_view(api, "di", headers) == stored for api in apis), 5,
              f"both nodes showing di as stored {stored}")
        assert through_both("di", ("ready", None), ("ready", None)) == [200, 200]

        callers = subprocess.Popen(
            ["sipp", f"127.0.0.1:{pbx.sip_port}", "-sf", str(caller_script(tmp_path)), "-s", "500",
             "-m", str(BURST), "-l", str(BURST), "-r", "10", "-i", "127.0.0.1",
             "-p", str(free_port(socket.SOCK_DGRAM)), "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)),
             "-timeout", "200s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", "callers-errors.log"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=tmp_path)
        until(lambda: sum(n.text().count("waiting in campaign sales") for n in nodes) == BURST, 60,
              "every caller waiting")
        logins = [through_both(name, ("login", None), ("login", None)) for name in TEAM[:3]]
        out, _ = callers.communicate(timeout=220)
        errors = tmp_path / "callers-errors.log"
        assert callers.returncode == 0, errors.read_text()[-3000:] if errors.exists() else out[-3000:]
    finally:
        for node in nodes:
            node.stop()
        for agent in agents:
            agent.stop()
        pbx.ivr("pbx", "up")

    logs = "".join(node.text() for node in nodes)
    assert all(sorted(codes) in ([200, 200], [200, 409]) for codes in changed + logins), (changed, logins)
    assert stored[0] == "paused"
    assert "Error" not in logs and "Traceback" not in logs
    calls = {call: seen for node in nodes for call, seen in moments(node.text()).items()}
    per_node = [len(moments(node.text())) for node in nodes]
    order = sorted(calls, key=lambda call: calls[call]["waiting"])
    assert all("bridged" in seen for seen in calls.values()), calls
    overtaken_by = max((calls[b]["waiting"] - calls[a]["waiting"]).total_seconds()
                       for a in order for b in order if calls[b]["bridged"] < calls[a]["bridged"]) if order else 0
    print(f"\ncallers per node: {per_node}; the most a caller was overtaken by: a caller {overtaken_by:.2f} s later")
    assert len(calls) == BURST and min(per_node) >= 10, per_node
    assert overtaken_by <= 1, overtaken_by


def agent_view(api: str, agent: str, headers: dict[str, str]) -> tuple[str, str]:
    found = [a for a in httpx.get(f"{api}/agents", headers=headers).json()["agents"] if a["id"] == agent]
    return found[0]["state"], found[0].get("reason", "")


def database_row(url: str, query: str) -> tuple[str, ...]:
    async def read() -> tuple[str, ...]:
        engine = open_engine(database_url(load_settings(None, {"IVR_DATABASE__URL": url})))
        try:
            async with engine.connect() as connection:
                return tuple((await connection.execute(text(query))).one())
        finally:
            await engine.dispose()
    return asyncio.run(read())


def caller_script(folder: Path) -> Path:
    path = folder / "caller.xml"
    path.write_text(scenario("", wait_ms=0))
    return path
