"""Two `ivr run` processes on one Asterisk and one PostgreSQL database, sharing agents."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import SipAgent
from tests.ports import free_port

AGENTS = ("ana", "bo", "cy")
CALLERS = 9

FLOW = """
[entry]
"500" = "campaign:sales"

[campaign.sales]
agents = ["ana", "bo", "cy"]
strategy = "longest-idle"
ring_timeout = 5.0
max_wait = 90.0
on_max_wait = "hangup:bye"

[hangup.bye]
"""

AGENT = """
[agent.{name}]
phone = "{phone}"
"""


class Watcher(threading.Thread):
    """Asterisk's own count of channels on each agent's phone, looked at every 50 ms."""

    def __init__(self, pbx: Pbx) -> None:
        super().__init__(daemon=True)
        self.pbx = pbx
        self.most = dict.fromkeys(AGENTS, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            for agent in AGENTS:
                endpoint = self.pbx.ari("GET", f"/endpoints/PJSIP/agent-{agent}")
                self.most[agent] = max(self.most[agent], len(endpoint.get("channel_ids", [])))


def test_two_app_nodes_under_a_burst_never_double_offer_and_serve_every_caller(
        pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    """Callers wait on both nodes; the agents then log in on both at once, so that both nodes
    go for the same free agents at the same moment. Afterwards a pause through one node's API
    holds on the other."""
    agents = {name: SipAgent(name, "brief", tmp_path, calls=CALLERS) for name in AGENTS}
    flow = FLOW + "".join(AGENT.format(name=n, phone=a.phone) for n, a in agents.items())
    settings = f'\n[database]\nurl = "{postgres}"\n\n[ari]\napp = "ivr-a"\n'
    config = pbx.configured(tmp_path, flow, settings)
    config.write_text(config.read_text().replace("[pbx]\n", '[pbx]\napps = ["ivr-a", "ivr-b"]\n', 1))
    nodes: list[App] = []
    watcher = Watcher(pbx)
    try:
        assert pbx.ivr("pbx", "up", config=config).returncode == 0
        apis = [f"http://127.0.0.1:{free_port()}/api" for _ in range(2)]
        for app, api in zip(("ivr-a", "ivr-b"), apis, strict=True):
            nodes.append(App(pbx, tmp_path / f"{app}.log", config=config,
                             env={"IVR_ARI__APP": app, "IVR_API__PORT": api.rsplit(":", 1)[1].split("/")[0]}))
        for node in nodes:
            node.wait_connected(1)
        watcher.start()
        burst = [subprocess.Popen([sys.executable, "-m", "ivr", "--config", str(config), "call", "500",
                                   "--json", "--timeout", "80"], stdout=subprocess.PIPE, text=True, cwd=REPO)
                 for _ in range(CALLERS)]
        until(lambda: sum(n.text().count("waiting in campaign sales") for n in nodes) == CALLERS, 30,
              "every caller waiting")
        token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        logins = [threading.Thread(target=httpx.post, args=(f"{api}/agents/{agent}/login",),
                                   kwargs={"headers": {"Authorization": f"Bearer {token}"}})
                  for agent in AGENTS for api in apis]
        for login in logins:
            login.start()
        reports = [json.loads(call.communicate(timeout=120)[0]) for call in burst]
        headers = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{apis[0]}/agents/ana/pause", json={"reason": "lunch"}, headers=headers).raise_for_status()
        on_b = until(lambda: _paused(apis[1], "ana", headers), 10, "the pause seen on the other node")
    finally:
        watcher.done.set()
        for node in nodes:
            node.stop()
        for agent in agents.values():
            agent.stop()
        pbx.ivr("pbx", "up")

    logs = "\n".join(node.text() for node in nodes)
    served = [r["variables"].get("IVR_AGENT") for r in reports]
    assert all(served) and all(r["connected_to"] for r in reports), (reports, logs)
    assert all("waiting in campaign sales" in node.text() for node in nodes), logs
    assert watcher.most == dict.fromkeys(AGENTS, 1), (watcher.most, logs)
    assert on_b["reason"] == "lunch"


def _paused(api: str, agent: str, headers: dict[str, str]) -> dict[str, str] | None:
    found = next(a for a in httpx.get(f"{api}/agents", headers=headers).json()["agents"] if a["id"] == agent)
    return found if found["state"] == "paused" else None
