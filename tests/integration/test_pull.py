"""Pull campaigns against the real Asterisk and a real Kannel (fakesmsc as the phone network): a
caller waits, the staff get an SMS each, and a reply takes the call to the replier's SIPp phone or
sends the caller to voicemail."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.integration.harness import REPO, App, Pbx, until
from tests.integration.kannel import KannelLab, Sms
from tests.integration.sip_agents import Behaviour, SipAgent
from tests.integration.test_callbacks import async_url, report
from tests.ports import free_port

CALLER = "+34915550000"
SMS_NUMBER = "+34911000000"
MOBILES = {"ana": "+34600000001", "bo": "+34600000002"}
NOTIFIED = re.compile(r"^Call (\d+) (?:waiting|is open again) in front: ")

FLOW = """
[entry]
"600" = "campaign:front"

[campaign.front]
agents = ["ana", "bo"]
mode = "pull"
ring_timeout = {ring_timeout}
max_wait = {max_wait}
on_max_wait = "message:sorry"
voicemail_to = "voicemail:front"
caller_country = "ES"

[voicemail.front]
box = "100@ivr"

[message.sorry]
prompt = ["sound:ivr/thank-you-goodbye"]

{agents}
"""


class Stage:
    """Kannel, the app's nodes (one by default) and the staff's phones: ana and bo."""

    def __init__(self, pbx: Pbx, folder: Path, phones: dict[str, Behaviour] | None = None, calls: int = 2,
                 ring_timeout: float = 15.0, max_wait: float = 60.0, database: str = "", nodes: int = 1) -> None:
        self.pbx = pbx
        self.folder = folder
        self.phones = {name: SipAgent(name, behaviour, folder, calls)
                       for name, behaviour in (phones or {"ana": "answer", "bo": "answer"}).items()}
        agents = "\n".join(f'[agent.{name}]\nphone = "{phone.phone}"\nmobile = "{MOBILES[name]}"\n'
                           for name, phone in self.phones.items())
        self.apps = tuple(f"ivr{index or ''}" for index in range(nodes))
        self.ports = [free_port() for _ in self.apps]
        self.secret = secrets.token_urlsafe(24)
        (folder / "sms-secret").write_text(self.secret)
        (folder / "kannel").mkdir()
        self.kannel = KannelLab(folder / "kannel", self.get_url(0))
        self.kannel.start()
        (folder / "kannel-password").write_text(self.kannel.password)
        self.database = database or f"sqlite:///{folder / 'ivr.sqlite3'}"
        extra = (f'\n[database]\nurl = "{self.database}"\n[ari]\napp = "{self.apps[0]}"\n'
                 f'[sms]\ngateway = "kannel"\nsender = "{SMS_NUMBER}"\nsecret_file = "{folder / "sms-secret"}"\n'
                 f'[sms.kannel]\nsendsms_url = "{self.kannel.sendsms_url}"\nuser = "{self.kannel.user}"\n'
                 f'password_file = "{folder / "kannel-password"}"\n')
        self.config = pbx.configured(folder, FLOW.format(agents=agents, ring_timeout=ring_timeout,
                                                         max_wait=max_wait), extra)
        self.config.write_text(self.config.read_text().replace(
            "[pbx]\n", f"[pbx]\napps = {json.dumps(list(self.apps))}\n", 1))
        assert pbx.ivr("pbx", "up", config=self.config).returncode == 0
        self.log_start = len(pbx.asterisk_log())
        self.nodes = [App(pbx, folder / f"{app}.log", config=self.config,
                          env={"IVR_ARI__APP": app, "IVR_API__PORT": str(port)})
                      for app, port in zip(self.apps, self.ports, strict=True)]
        for node in self.nodes:
            node.wait_connected(1)
        self.token = (pbx.state_dir / "api" / "supervisor-token").read_text().strip()

    def get_url(self, node: int) -> str:
        return (f"http://127.0.0.1:{self.ports[node]}/sms/kannel?secret={self.secret}"
                "&from=%p&to=%P&text=%b&charset=%C")

    @property
    def app(self) -> App:
        return self.nodes[0]

    def caller(self, timeout: float = 40) -> subprocess.Popen[str]:
        """A caller who speaks (a tone) all along: a voicemail box has something to record."""
        return subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(self.config), "call", "600", "--json",
             "--caller-id", f"MARIA L <{CALLER}>", "--timeout", str(timeout), "--speak", "tone:440"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)

    def texts_to(self, agent: str, after: int = 0) -> list[Sms]:
        return [sms for sms in self.kannel.received()[after:] if sms.receiver == MOBILES[agent]]

    def notified(self, agent: str, count: int = 1, again: bool = False, timeout: float = 10) -> list[int]:
        """The codes of the calls ``agent`` was told of, once there are ``count``."""
        def codes() -> list[int]:
            return [int(match[1]) for sms in self.texts_to(agent) if (match := NOTIFIED.match(sms.text))
                    and ("open again" in sms.text) == again]
        return until(lambda: codes() if len(codes()) >= count else None, timeout, f"{count} SMS to {agent}")

    def reply(self, agent: str, text: str) -> None:
        """Through the phone network: fakesmsc, Kannel, its get-url."""
        self.kannel.send(MOBILES[agent], SMS_NUMBER, text)

    def reply_to_node(self, node: int, agent: str, text: str) -> httpx.Response:
        """As Kannel would hand it to that node."""
        query = (f"secret={self.secret}&from={quote(MOBILES[agent])}&to={quote(SMS_NUMBER)}"
                 f"&text={quote(text)}&charset=UTF-8")
        return httpx.get(f"http://127.0.0.1:{self.ports[node]}/sms/kannel?{query}", timeout=10)

    def answer_to(self, agent: str, start: int = 0, containing: str = "", timeout: float = 10) -> Sms:
        return until(lambda: next((s for s in self.texts_to(agent, start)
                                   if not NOTIFIED.match(s.text) and containing in s.text), None),
                     timeout, f"an answer to {agent} ({containing})")

    def rung(self, agent: str) -> int:
        return self.pbx.asterisk_log()[self.log_start:].count(f"Called agent-{agent}\n")

    def records(self) -> list[dict[str, Any]]:
        return rows(self.database, "SELECT * FROM ivr_calls ORDER BY id")

    def lines(self) -> list[str]:
        response = httpx.get(f"http://127.0.0.1:{self.ports[0]}/api/campaigns",
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
        response.raise_for_status()
        [front] = [line for line in response.json()["campaigns"] if line["campaign"] == "front"]
        return [waiting["call"] for waiting in front["waiting"]]

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        for phone in self.phones.values():
            phone.stop()
        self.kannel.stop()
        self.pbx.ivr("pbx", "up")


def join_to_sms(stage: Stage) -> list[float]:
    """Per pulled call, the milliseconds from its caller joining the line (the app's log) to the
    first notification of it at fakesmsc."""
    offset = time.time() - time.monotonic()
    log = "\n".join(node.text() for node in stage.nodes)
    joined = {match[2]: datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
              for match in re.finditer(r"^(\S+ \S+) INFO \S+ call (\S+): waiting in campaign", log, re.M)}
    code_of = {int(match[2]): match[1] for match in re.finditer(r"call (\S+): open to its staff as call (\d+)", log)}
    first: dict[int, float] = {}
    for sms in stage.kannel.received():
        if (match := NOTIFIED.match(sms.text)) and int(match[1]) not in first:
            first[int(match[1])] = sms.at + offset
    return sorted(1000 * (at - joined[code_of[code]]) for code, at in first.items())


def rows(database: str, query: str) -> list[dict[str, Any]]:
    import asyncio

    from sqlalchemy import text

    from ivr.store.engine import open_engine

    async def read() -> list[dict[str, Any]]:
        engine = open_engine(async_url(database))
        try:
            async with engine.connect() as connection:
                return [dict(row) for row in (await connection.execute(text(query))).mappings()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_the_staff_are_texted_and_a_t_reply_rings_the_repliers_phone(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path)
    try:
        caller = stage.caller(timeout=14)
        [code] = stage.notified("ana")
        assert stage.notified("bo") == [code]
        print(f"\none caller: joined -> SMS at fakesmsc {join_to_sms(stage)[0]:.0f} ms")
        before = len(stage.kannel.received())
        stage.reply("ana", f" {code}t ")
        assert "is yours" in stage.answer_to("ana", before).text
        served = report(caller)
    finally:
        stage.close()

    notification = stage.texts_to("ana")[0].text
    assert notification == (f"Call {code} waiting in front: {CALLER} (MARIA L, Madrid). "
                            f"Reply {code} T to take it, {code} V for voicemail."), notification
    assert served["variables"]["IVR_AGENT"] == "ana", served
    assert stage.rung("ana") == 1 and stage.rung("bo") == 0
    notes = stage.records()[0]["notes"]
    assert "pull: ana texted" in notes and "pull: bo texted" in notes and "pull: take by ana (sms)" in notes, notes
    assert [s for s in stage.texts_to("bo") if not NOTIFIED.match(s.text)] == []


def test_the_api_lists_open_calls_and_shares_the_claim_with_sms_replies(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path)
    try:
        caller = stage.caller(timeout=14)
        [code] = stage.notified("ana")
        ana = {"Authorization": f"Bearer {(pbx.state_dir / 'api' / 'agent-ana-token').read_text().strip()}"}
        pulled = f"http://127.0.0.1:{stage.ports[0]}/api/campaigns/front/pulled"
        listed = httpx.get(pulled, headers=ana, timeout=5).json()["calls"]
        taken = httpx.post(f"{pulled}/{code}/take", headers=ana, timeout=5)
        again = httpx.post(f"{pulled}/{code}/take", headers=ana, timeout=5)
        before = len(stage.kannel.received())
        stage.reply("bo", f"{code} T")
        answer = stage.answer_to("bo", before)
        served = report(caller)
    finally:
        stage.close()

    assert [(c["code"], c["caller"], c["name"], c["location"]) for c in listed] == [
        (code, CALLER, "MARIA L", "Madrid")], listed
    assert taken.status_code == 202, taken.text
    assert again.status_code == 409 and "already taken by ana" in again.json()["error"], again.text
    assert answer.text == f"Call {code} was already taken by ana."
    assert served["variables"]["IVR_AGENT"] == "ana", served
    assert stage.texts_to("ana")[1:] == []


def test_a_v_reply_leaves_the_caller_in_voicemail(pbx: Pbx, tmp_path: Path) -> None:
    inbox = pbx.folder / "spool" / "voicemail" / "ivr" / "100" / "INBOX"
    before = set(inbox.glob("msg*.txt")) if inbox.exists() else set()
    stage = Stage(pbx, tmp_path)
    try:
        caller = stage.caller(timeout=16)
        [code] = stage.notified("bo")
        stage.reply("bo", f"{code} v")
        served = report(caller)
    finally:
        stage.close()

    assert any("VoiceMail(100@ivr" in step for step in served["dialplan"]), served
    assert stage.rung("ana") == stage.rung("bo") == 0
    messages = set(inbox.glob("msg*.txt")) - before
    assert len(messages) == 1, sorted(inbox.iterdir())
    assert "sent to voicemail by bo (sms)" in stage.records()[0]["notes"]


def test_a_reply_after_the_caller_hung_up_is_answered_and_rings_nobody(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path)
    try:
        caller = stage.caller(timeout=4)
        [code] = stage.notified("ana")
        report(caller)
        until(lambda: stage.records(), 10, "the call's record")
        before = len(stage.kannel.received())
        stage.reply("ana", f"{code} T")
        answer = stage.answer_to("ana", before)
        unknown = len(stage.kannel.received())
        stage.reply("ana", "99999 T")
        stranger = stage.reply_to_node(0, "ana", "hello?")
    finally:
        stage.close()

    assert answer.text == f"Call {code}: the caller hung up."
    assert stage.rung("ana") == 0
    assert [s.text for s in stage.texts_to("ana", unknown)] == ["No call 99999 is open for you."]
    assert stranger.status_code == 200
    assert "SMS from agent ana ignored" in stage.app.text()


def test_a_taker_who_does_not_answer_puts_the_call_back_and_the_others_are_told(
        pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, phones={"ana": "ring", "bo": "answer"}, ring_timeout=3)
    try:
        first = stage.caller(timeout=20)
        [code] = stage.notified("bo")
        second = stage.caller(timeout=6)
        stage.notified("bo", 2)
        order = stage.lines()
        stage.reply("ana", f"{code} T")
        [again] = stage.notified("bo", again=True, timeout=15)
        assert stage.lines() == order
        stage.reply("bo", f"{code} T")
        served = report(first)
        report(second)
    finally:
        stage.close()

    assert again == code
    assert [s for s in stage.texts_to("ana") if "open again" in s.text] == []
    assert served["variables"]["IVR_AGENT"] == "bo", served
    assert stage.rung("ana") == 1 and stage.rung("bo") == 1
    [record] = [r for r in stage.records() if "take by bo" in r["notes"]]
    assert "ana's phone did not answer" in record["notes"], record


def test_with_kannel_down_the_caller_still_reaches_on_max_wait(pbx: Pbx, tmp_path: Path) -> None:
    stage = Stage(pbx, tmp_path, max_wait=4)
    try:
        stage.kannel.stop()
        served = report(stage.caller(timeout=20))
    finally:
        stage.close()

    assert "sound:ivr/thank-you-goodbye" in served["prompts"], served
    notes = stage.records()[0]["notes"]
    assert "pull: ana not texted: kannel" in notes and "no staff took it within 4 s" in notes, notes


def test_two_replies_at_once_through_two_nodes_make_one_bridge(pbx: Pbx, tmp_path: Path, postgres: str) -> None:
    rounds = 20
    stage = Stage(pbx, tmp_path, calls=rounds, database=postgres, nodes=2)
    try:
        callers = [stage.caller(timeout=25) for _ in range(rounds)]
        codes = stage.notified("ana", rounds, timeout=40)
        with ThreadPoolExecutor(2 * rounds) as pool:
            answers = list(pool.map(lambda job: stage.reply_to_node(*job),
                                    [(node, agent, f"{code} T") for code in codes
                                     for node, agent in ((0, "ana"), (1, "bo"))]))
        served = [report(caller) for caller in callers]
        delays = join_to_sms(stage)
        print(f"\n{rounds} callers at once, two nodes: joined -> SMS at fakesmsc median "
              f"{delays[len(delays) // 2]:.0f} ms, slowest {delays[-1]:.0f} ms")
    finally:
        stage.close()

    assert all(answer.status_code == 200 for answer in answers)
    agents = [call["variables"].get("IVR_AGENT") for call in served]
    assert sorted(a for a in agents if a) == sorted(agents) and len(agents) == rounds, agents
    assert stage.rung("ana") + stage.rung("bo") == rounds
    taken = [s.text for s in stage.kannel.received() if "already taken" in s.text]
    assert len(taken) == rounds, taken
