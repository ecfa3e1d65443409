"""A scripted day of calls on the real Asterisk, with SIPp agents: the queue_log the app writes
matches app_queue's format event by event, and `ivr stats` counts it as checked by hand."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from tests.integration.harness import Pbx, until
from tests.integration.test_campaigns import Setup

EXTRA = 'exit_key = "0"\non_exit = "message:sorry"\nannounce_every = 1.0\nservice_level = 5\n'
MAX_WAIT = 12.0


def events(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text().splitlines()]


def test_a_day_of_calls_in_the_queue_log_and_its_stats(pbx: Pbx, tmp_path: Path) -> None:
    """ana refuses (486) and bo answers after ringing 1.5 s: one call answered, the caller
    hanging up at 6 s. Then both pause, and callers hang up after about 1 s (a short abandon:
    under reports.short_abandon = 4 s) and 7 s, one waits out max_wait (12 s) and one presses
    the exit key 0."""
    queue_log = tmp_path / "queue_log"
    settings = f'\n[reports]\nqueue_log = "{queue_log}"\nshort_abandon = 4\n'
    setup = Setup(pbx, tmp_path, "busy", "late", max_wait=MAX_WAIT, calls=3, campaign_extra=EXTRA,
                  settings=settings)
    try:
        answered = pbx.call("500", "--timeout", "6", config=setup.config)
        for agent in ("ana", "bo"):
            setup.request("POST", f"/agents/{agent}/pause", json={"reason": "lunch"}).raise_for_status()
        short = pbx.call("500", "--timeout", "2", config=setup.config)
        long = pbx.call("500", "--timeout", "8", config=setup.config)
        timeout = pbx.call("500", "--timeout", "20", config=setup.config)
        key = pbx.call("500", "--dtmf", "0", "--send-at", "prompt-start", "--timeout", "20", config=setup.config)
        until(lambda: len([e for e in events(queue_log) if e[4] == "EXITWITHKEY"]) == 1, 5, "the last line")
        day = datetime.now().astimezone().date().isoformat()
        stats = pbx.ivr("stats", "--from", day, "--to", day, "--interval", "day", "--json", config=setup.config)
        api = setup.request("GET", "/stats", params={"from": day, "to": day, "interval": "day"})
        text = pbx.ivr("stats", "--from", day, "--to", day, config=setup.config)
        calls_csv = pbx.ivr("calls", "--from", day, "--csv", config=setup.config)
    finally:
        setup.close()

    assert answered["variables"]["IVR_AGENT"] == "bo" and answered["timed_out"]
    assert short["timed_out"] and long["timed_out"] and not timeout["timed_out"] and not key["timed_out"]
    lines = events(queue_log)
    times = [int(line[0]) for line in lines]
    assert times == sorted(times) and all(abs(t - datetime.now().timestamp()) < 600 for t in times)
    shapes = [line[1:5] for line in lines]
    calls = [answered, short, long, timeout, key]
    ids = list(dict.fromkeys(line[1] for line in lines if line[1] != "NONE"))
    assert len(ids) == 5, lines
    a, b, c, d, e = ids
    assert shapes == [
        ["NONE", "NONE", "ana", "AGENTLOGIN"], ["NONE", "NONE", "bo", "AGENTLOGIN"],
        [a, "sales", "NONE", "ENTERQUEUE"], [a, "sales", "ana", "RINGNOANSWER"], [a, "sales", "bo", "CONNECT"],
        [a, "sales", "bo", "COMPLETECALLER"],
        ["NONE", "sales", "ana", "PAUSE"], ["NONE", "sales", "bo", "PAUSE"],
        [b, "sales", "NONE", "ENTERQUEUE"], [b, "sales", "NONE", "ABANDON"],
        [c, "sales", "NONE", "ENTERQUEUE"], [c, "sales", "NONE", "ABANDON"],
        [d, "sales", "NONE", "ENTERQUEUE"], [d, "sales", "NONE", "EXITWITHTIMEOUT"],
        [e, "sales", "NONE", "ENTERQUEUE"], [e, "sales", "NONE", "EXITWITHKEY"],
    ], lines
    assert len(calls) == len(ids)
    data = [line[5:] for line in lines]
    assert all(re.fullmatch(r"PJSIP/\S+", d[0]) for d in data[:2]), data[:2]
    # ENTERQUEUE url|callerid|position; RINGNOANSWER ringtime (ms); CONNECT holdtime|agent's
    # channel|ringtime; COMPLETECALLER holdtime|calltime|origposition.
    assert data[2] == ["", "100", "1"]
    assert int(data[3][0]) < 1000, "ana refused at once"
    hold, leg, ring = data[4]
    assert 1 <= int(hold) <= 3 and leg.startswith(a) and 1 <= int(ring) <= 3
    assert data[5][0] == hold and data[5][2] == "1" and 1 <= int(data[5][1]) <= 5
    assert data[6:8] == [["lunch"], ["lunch"]]
    # ABANDON / EXITWITHTIMEOUT position|origposition|waittime; EXITWITHKEY key|position|origposition|waittime.
    short_wait, long_wait = int(data[9][2]), int(data[11][2])
    assert data[9][:2] == data[11][:2] == data[13][:2] == ["1", "1"]
    assert short_wait < 4 <= long_wait <= 9
    assert data[13][2] == str(int(MAX_WAIT))
    assert data[15][:3] == ["0", "1", "1"] and int(data[15][3]) <= 5

    # By hand: 5 offered; 1 answered, within service_level 5 s (hold 1-3 s): SL 100 %; SL2
    # (answered or abandoned within 5 s, of answered and abandoned): bo's answer and the short
    # abandon, of 3: 66.7 %; 1 abandoned, 1 short; 1 timeout, 1 exit key; ASA = CONNECT's hold.
    assert stats.returncode == 0, stats.stderr
    [row] = [json.loads(line) for line in stats.stdout.splitlines()]
    expected = {"campaign": "sales", "offered": 5, "answered": 1, "answered_in_time": 1, "service_level": 100.0,
                "service_level_with_abandons": 66.7, "abandoned": 1, "short_abandoned": 1, "timeouts": 1,
                "exit_key": 1, "other_exits": 0, "average_speed_of_answer": float(hold),
                "average_handle_time": float(data[5][1]), "longest_wait": int(MAX_WAIT)}
    assert {name: row[name] for name in expected} == expected
    assert api.status_code == 200 and api.json()["stats"] == [row]
    assert text.returncode == 0 and "sales" in text.stdout.splitlines()[1], text.stdout
    header, *records = calls_csv.stdout.splitlines()
    assert header.startswith("started_at,ended_at,answered_at,channel_id") and len(records) == 5
