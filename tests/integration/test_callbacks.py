"""In-queue callbacks against the real Asterisk: a caller asks to be called back, an agent (SIPp)
takes the callback at the caller's original place, and the customer (SIPp behind a trunk) is
dialled and presses 1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from ivr.core.callbacks import Callback, Limits, NewCallback, RetryPolicy
from ivr.store.callbacks import CallbackStore
from ivr.store.engine import open_engine
from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.sip_agents import PROVIDER, Behaviour, SipAgent
from tests.ports import free_port

CUSTOMER = "+34600111222"

FLOW = """
[entry]
"500" = "campaign:sales"

[campaign.sales]
agents = {agents}
ring_timeout = 5.0
max_wait = 60.0
callback = "sales"
callback_key = "2"

[callback.sales]
campaign = "sales"
trunk = "pstn"
caller_id = "+34911000000"
country = "ES"
message_seconds = {message_seconds}
message_silence = 1
attempts = {attempts}
retry_delay = 2
accept_timeout = 2.0
accept_repeats = 0
dial_timeout = {dial_timeout}

[trunk.pstn]
dial = "PJSIP/{{number}}@pstn"
allow = ["+346*"]

{agent_tables}
"""



class Stage:
    """The app with its agents (ana alone by default), paused at first; the customers' phone behind
    trunk pstn (every number of the trunk reaches the same SIPp)."""

    def __init__(self, pbx: Pbx, folder: Path, customer: Behaviour, customer_calls: int = 1,
                 agent_calls: int = 2, message_seconds: float = 2.0, attempts: int = 3, dial_timeout: int = 8,
                 agents: tuple[str, ...] = ("ana",), database: str = "", apps: tuple[str, ...] = ("ivr",)) -> None:
        self.pbx = pbx
        self.folder = folder
        self.agents = {name: SipAgent(name, "answer", folder, agent_calls) for name in agents}
        self.customer = SipAgent("pstn", customer, folder, customer_calls)
        (folder / "providers.conf").write_text(PROVIDER.format(port=self.customer.port))
        self.database = database or f"sqlite:///{folder / 'ivr.sqlite3'}"
        tables = "\n".join(f'[agent.{name}]\nphone = "{agent.phone}"\n' for name, agent in self.agents.items())
        flow = FLOW.format(agents=json.dumps(list(agents)), agent_tables=tables, message_seconds=message_seconds,
                           attempts=attempts, dial_timeout=dial_timeout)
        self.config = pbx.configured(folder, flow, f'\n[database]\nurl = "{self.database}"\n[ari]\napp = "{apps[0]}"\n')
        self.config.write_text(self.config.read_text().replace(
            "[pbx]\n", f'[pbx]\npjsip_include = "{folder / "providers.conf"}"\napps = {json.dumps(list(apps))}\n', 1))
        assert pbx.ivr("pbx", "up", config=self.config).returncode == 0
        self.log_start = len(self.pbx.asterisk_log())
        self.apps = apps
        self.apis = [f"http://127.0.0.1:{free_port()}/api" for _ in apps]
        self.nodes = [self._node(app, api) for app, api in zip(apps, self.apis, strict=True)]
        for node in self.nodes:
            node.wait_connected(1)
        self.token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()
        self.act("login")
        self.act("pause", json={"reason": "meeting"})

    def _node(self, app: str, api: str, log: str = "") -> App:
        port = api.rsplit(":", 1)[1].split("/")[0]
        return App(self.pbx, self.folder / (log or f"{app}.log"), config=self.config,
                   env={"IVR_ARI__APP": app, "IVR_API__PORT": port})

    @property
    def app(self) -> App:
        return self.nodes[0]

    def restart(self) -> None:
        """The first node killed (kill -9) and started again."""
        self.nodes[0].process.kill()
        self.nodes[0].stop()
        self.nodes[0] = self._node(self.apps[0], self.apis[0], "again.log")
        self.nodes[0].wait_connected(1)

    def act(self, action: str, **kwargs: Any) -> None:
        """Every agent, through the first node (the others follow within a second)."""
        for agent in self.agents:
            httpx.post(f"{self.apis[0]}/agents/{agent}/{action}", headers={"Authorization": f"Bearer {self.token}"},
                       timeout=5, **kwargs).raise_for_status()

    def caller(self, dtmf: str = "", timeout: float = 40) -> subprocess.Popen[str]:
        args = ["--dtmf", dtmf, "--send-at", "answer"] if dtmf else []
        return subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(self.config), "call", "500", "--json",
             "--caller-id", f"caller <{CUSTOMER}>", "--timeout", str(timeout), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)

    def dialled(self, number: str = f"{CUSTOMER}@pstn") -> int:
        """How often Asterisk has dialled the number (or numbers so beginning) since the stage
        was set up, by its log."""
        return self.pbx.asterisk_log()[self.log_start:].count(f"Called {number}")

    def callbacks(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM ivr_callbacks ORDER BY created_at")

    def records(self, flow: str) -> list[dict[str, Any]]:
        return self._rows(f"SELECT * FROM ivr_calls WHERE flow = '{flow}' ORDER BY id")

    def execute(self, statement: str) -> None:
        async def run() -> None:
            engine = open_engine(async_url(self.database))
            try:
                async with engine.begin() as connection:
                    await connection.execute(text(statement))
            finally:
                await engine.dispose()

        asyncio.run(run())

    @property
    def flow_name(self) -> str:
        return "flows"

    def _rows(self, query: str) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            engine = open_engine(async_url(self.database))
            try:
                async with engine.connect() as connection:
                    return [dict(row) for row in (await connection.execute(text(query))).mappings()]
            finally:
                await engine.dispose()

        return asyncio.run(read())

    def ask(self) -> dict[str, Any]:
        """A caller waits, presses 2 for a callback, 1 to confirm its own number, and hangs up."""
        asked = report(self.caller("2ww1"))
        assert asked["variables"].get("IVR_CALLBACK"), asked
        return asked

    def settle(self) -> None:
        """Until the last conversation has ended (a callback is completed once bridged)."""
        until(lambda: not [c for c in self.pbx.channels() if c["id"].startswith("cb-")], 30,
              "the callbacks' conversations to end")

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        for agent in self.agents.values():
            agent.stop()
        self.customer.stop()
        self.pbx.ivr("pbx", "up")  # the session's own configuration again (its apps, no provider)


def async_url(url: str) -> str:
    return url.replace("sqlite://", "sqlite+aiosqlite://").replace("postgresql://", "postgresql+asyncpg://")


async def register(database: str, numbers: list[str]) -> None:
    """Callbacks as the flow registers them, one per number, straight into the store."""
    engine = open_engine(async_url(database))
    store = CallbackStore(engine, "tests")
    try:
        for number in numbers:
            stored = await store.register(NewCallback("sales", number, "", "", (), 5, datetime.now(UTC), via="sales"),
                                          RetryPolicy(), Limits())
            assert isinstance(stored, Callback), stored
    finally:
        await engine.dispose()


def report(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=90)
    assert out.strip(), err
    result: dict[str, Any] = json.loads(out)
    return result


def test_a_callback_is_made_at_the_callers_place_and_the_customer_accepts(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, "accept")
    try:
        asking = stage.caller("2ww1")
        until(lambda: "waiting in campaign sales" in stage.app.text(), 20, "the first caller waiting")
        later = stage.caller(timeout=60)
        until(lambda: stage.app.text().count("waiting in campaign sales") >= 2, 20, "the second caller waiting")
        asked = report(asking)
        until(lambda: "registered for" in stage.app.text(), 10, "the callback stored")
        stage.act("ready")
        served = report(later)
        until(lambda: stage.callbacks()[0]["state"] == "completed", 30, "the callback completed")
    finally:
        stage.close()

    log = stage.app.text()
    stored = stage.callbacks()[0]
    assert asked["variables"].get("IVR_CALLBACK") == stored["id"], asked
    assert "sound:ivr/callback-registered" in asked["prompts"], asked
    assert stored["number"] == CUSTOMER and stored["attempts"] == 1 and stored["message"], stored
    assert served["variables"]["IVR_AGENT"] == "ana", served
    offers = [line.split(": offered")[0].rsplit(" ", 2)[-2:] for line in log.splitlines()
              if "offered to agent ana" in line]
    assert [kind for kind, _ in offers] == ["callback", "call"], log
    assert f"callback {stored['id']}: attempt 1, dialling the customer for agent ana" in log
    assert (pbx.folder / "spool" / "recording" / f"{stored['message']}.wav").exists()
    assert stage.dialled() == 1


def test_a_customer_who_never_presses_1_is_retried_then_the_callback_is_exhausted(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, "silent", customer_calls=2, message_seconds=0, attempts=2)
    try:
        stage.ask()
        stage.act("ready")
        until(lambda: stage.callbacks()[0]["state"] == "exhausted", 60, "the callback exhausted")
        until(lambda: len(stage.records("callback")) == 2, 10, "a record per attempt")
    finally:
        stage.close()

    stored = stage.callbacks()[0]
    assert stored["attempts"] == 2, stored
    assert [r["outcome"] for r in stage.records("callback")] == ["callback not accepted (no key 1)"] * 2
    assert stage.dialled() == 2


def test_an_attempt_in_progress_when_the_app_is_killed_is_dialled_once(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, "ring", message_seconds=0, attempts=1, dial_timeout=30)
    try:
        stage.ask()
        stage.act("ready")
        until(lambda: "dialling the customer" in stage.app.text(), 20, "the customer dialled")
        until(lambda: stage.dialled() == 1, 10, "Asterisk dialling the customer")
        stage.restart()
        until(lambda: stage.callbacks()[0]["state"] == "exhausted", 20, "the attempt closed")
    finally:
        stage.close()

    assert stage.callbacks()[0]["reason"] == "the app restarted during the attempt"
    assert stage.dialled() == 1


def test_never_more_callbacks_in_progress_than_agents(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, "accept", customer_calls=20, agent_calls=20, message_seconds=0,
                  agents=("ana", "bo", "cy"))
    numbers = [f"+346001112{index:02d}" for index in range(20)]
    samples: list[tuple[float, list[str]]] = []
    try:
        asyncio.run(register(stage.database, numbers))
        stage.act("ready")

        def sampled() -> bool:
            """Customers on the line (dialled, asked, or talking): a leg through the trunk each."""
            legs = [f"{c['id']} {c['name']} {c['state']}" for c in pbx.channels() if c["name"].startswith("PJSIP/pstn-")]
            samples.append((time.monotonic(), legs))
            return all(c["state"] == "completed" for c in stage.callbacks())

        until(sampled, 180, "every callback completed")
        stage.settle()
    finally:
        stage.close()

    most = max(len(legs) for _, legs in samples)
    assert most == 3, [(round(at - samples[0][0], 2), legs) for at, legs in samples if len(legs) > 3]
    assert stage.dialled("+346001112") == 20


def test_two_app_nodes_dial_each_callback_attempt_once(pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    """Both nodes see every due callback; the node whose agent is free first holds it."""
    stage = Stage(pbx, tmp_path, "accept", customer_calls=20, agent_calls=20, message_seconds=0,
                  agents=("ana", "bo", "cy"), database=postgres, apps=("ivr-a", "ivr-b"))
    numbers = [f"+346001113{index:02d}" for index in range(20)]
    try:
        asyncio.run(register(postgres, numbers))
        stage.act("ready")
        until(lambda: all(c["state"] == "completed" for c in stage.callbacks()), 180, "every callback completed")
        stage.settle()
    finally:
        stage.close()

    callbacks = stage.callbacks()
    assert len(callbacks) == 20 and all(c["attempts"] == 1 for c in callbacks), callbacks
    assert stage.dialled("+346001113") == 20
    held_by = {c["node"] for c in callbacks}
    assert held_by <= {"ivr-a", "ivr-b"}, held_by


def test_declining_keeps_the_place_and_hanging_up_before_registering_leaves_no_request(
        pbx: Pbx, tmp_path: Path) -> None:
    """The decliner waits again at its place, ahead of a caller who came later, so it is the first
    one bridged with the one agent (the later one only once the decliner's call has ended)."""
    stage = Stage(pbx, tmp_path, "silent")

    def joined() -> int:
        return stage.app.text().count("waiting in campaign sales")

    try:
        declining = stage.caller("2ww*", timeout=20)
        until(lambda: joined() >= 2, 20, "the decliner back in the line")
        later = stage.caller(timeout=45)
        until(lambda: joined() >= 3, 20, "the later caller waiting")
        stage.act("ready")
        first, second = report(declining), report(later)
        report(stage.caller("2", timeout=4))
        until(lambda: len(stage.records(stage.flow_name)) == 3, 10, "the three records")
    finally:
        stage.close()

    assert first["variables"]["IVR_AGENT"] == "ana" and second["variables"]["IVR_AGENT"] == "ana"
    records = stage.records(stage.flow_name)
    decliner = next(r for r in records if "pressed *: back in the line" in r["notes"])
    bridged = [line.split(": bridged")[0].rsplit(" ", 1)[-1] for line in stage.app.text().splitlines()
               if ": bridged with agent ana" in line]
    assert bridged[0] == decliner["channel_id"], (bridged, records)
    assert any("before the request was stored (abandoned)" in r["notes"] for r in records), records
    assert stage.callbacks() == []


def test_a_store_that_refuses_the_request_never_tells_the_caller_it_is_registered(
        pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, "silent", message_seconds=0)
    stage.execute("CREATE TRIGGER refuse BEFORE INSERT ON ivr_callbacks BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    try:
        asked = report(stage.caller("2ww1", timeout=15))
    finally:
        stage.close()

    assert "IVR_CALLBACK" not in asked["variables"], asked
    assert "sound:ivr/callback-not-registered" in asked["prompts"], asked
    assert "sound:ivr/callback-registered" not in asked["prompts"], asked
    assert stage.callbacks() == []


def test_a_callback_asked_through_a_node_killed_afterwards_is_dialled_once_by_the_other(
        pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    """The caller asks through one app node, which is killed (kill -9) before an agent is free;
    the other node dials the callback, once."""
    stage = Stage(pbx, tmp_path, "accept", database=postgres, apps=("ivr-a", "ivr-b"))
    try:
        stage.ask()
        until(lambda: any("registered for" in node.text() for node in stage.nodes), 10, "the callback stored")
        asked_on = next(i for i, node in enumerate(stage.nodes) if "registered for" in node.text())
        stage.nodes[asked_on].process.kill()
        stage.nodes[asked_on].stop()
        other = 1 - asked_on
        for agent in stage.agents:
            httpx.post(f"{stage.apis[other]}/agents/{agent}/ready", timeout=5,
                       headers={"Authorization": f"Bearer {stage.token}"}).raise_for_status()
        until(lambda: stage.callbacks()[0]["state"] == "completed", 40, "the callback completed")
        stage.settle()
    finally:
        stage.close()

    [stored] = stage.callbacks()
    assert stored["attempts"] == 1 and stored["node"] == stage.apps[other], stored
    assert stage.dialled() == 1
