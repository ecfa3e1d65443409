"""One line across app nodes: two `ivr run` processes on one Asterisk and one PostgreSQL serve
the callers of a campaign in their order of arrival, whatever node holds each (issue 18 measured
one node serving all of its callers before any of the other's)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import SipAgent
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
