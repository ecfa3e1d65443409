"""`ivr bench contention`'s report: each way's medians over the repetitions with their spread,
the headline ratio against its goal, and every run, as JSON and as a markdown page."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Run = dict[str, Any]
GOAL_RATIO = 1.5
"""The app's p99 of agent free -> ringing at most this many times Queue()'s."""

METHOD = """## How it was measured

One `ivr bench contention` run: the project's own Asterisk 22 (the bundled root, instance
`contention`, its own ports), SIPp callers arriving evenly over the arrival time, each waiting
(with music, no announcements) until an agent has talked to it and hung up; {agents} agents,
each a PJSIP endpoint of its own (`agent-c1`...) whose address is one SIPp process that rings
{ring_s:g} s, answers, talks {talk_s:g} s and hangs up. Two ways serve the same callers with the
same agents, one run after the other, interleaved (app, app_queue, app, ...):

- **app**: `ivr run` with a flow whose entry is a campaign of the agents (`longest-idle`,
  `ring_timeout` 10 s, `wrap_up` 0): the app rings the agent it chose (ARI originate) and
  bridges;
- **app_queue**: `Queue()` ([extensions_bench.conf](../../dialplan/asterisk/extensions_bench.conf))
  with the agents as static members ([queues.conf](../../dialplan/asterisk/queues.conf):
  `leastrecent`, `ringinuse = no`, `wrapuptime = 0`, `timeout = 10`, `retry = 1`, the least
  Asterisk allows).

Times are Asterisk's own, on its AMI events (`timestampevents`). *Agent free -> ringing* is
from the `Hangup` of an agent's leg (`PJSIP/agent-NAME-*`) to the `Newchannel` of that agent's
next leg, counted only when at least as many callers were waiting, not yet offered to anyone,
as agents were free at that moment (otherwise the agent rightly stays idle). *Wait* is from the
caller's channel's creation to an agent's leg going `Up`. A caller is *completed* when it was
bridged with an agent. CPU is user+system time from `/proc` over each run (Asterisk; `ivr run`
for the app), divided by the agent legs dialled (offers); Asterisk's includes the music it
plays to the waiting callers, most of its work here. Figures per way are the medians of the
repetitions' figures; the spread is their lowest and highest.
"""


def _median(runs: Sequence[Run], field: str, key: str) -> dict[str, float] | None:
    """The median over the runs of ``run[field][key]``, with the lowest and highest.

    >>> runs = [{"t": {"p99": 30.0}}, {"t": {"p99": 10.0}}, {"t": {"p99": 20.0}}, {"t": None}]
    >>> _median(runs, "t", "p99")
    {'median': 20.0, 'low': 10.0, 'high': 30.0}
    """
    values = [run[field][key] for run in runs if run[field] is not None and run[field][key] is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


def way_summary(runs: Sequence[Run]) -> dict[str, Any]:
    """One way's figures over its runs."""
    return {
        "runs": len(runs), "completed": sum(r["completed"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "free_to_ring_ms": {key: _median(runs, "free_to_ring_ms", key) for key in ("p50", "p99", "max")},
        "wait_ms": {key: _median(runs, "wait_ms", key) for key in ("p50", "p99")},
        "cpu_ms_per_offer": {name: _median(runs, "cpu_ms_per_offer", name)
                             for name in sorted({name for r in runs for name in r["cpu_ms_per_offer"]})},
    }


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    """Each way's figures and the headline: the app's p99 of agent free -> ringing over Queue()'s.

    >>> def run(way, p99):
    ...     return {"way": way, "completed": 10, "failed": 0, "cpu_ms_per_offer": {"asterisk": 5.0},
    ...             "free_to_ring_ms": {"p50": p99 / 2, "p99": p99, "max": p99}, "wait_ms": None}
    >>> summary = summarize([run("app", 30.0), run("app_queue", 1000.0), run("app", 50.0),
    ...                      run("app_queue", 900.0)])
    >>> summary["ratio"], summary["goal_met"], summary["app"]["free_to_ring_ms"]["p99"]["median"]
    (0.042, True, 40.0)
    """
    ways = {way: way_summary([r for r in runs if r["way"] == way]) for way in ("app", "app_queue")}
    app, queue = (ways[way]["free_to_ring_ms"]["p99"] for way in ("app", "app_queue"))
    ratio = round(app["median"] / queue["median"], 3) if app and queue and queue["median"] else None
    clean = all(way["failed"] == 0 for way in ways.values())
    return {**ways, "ratio": ratio, "goal": GOAL_RATIO,
            "goal_met": None if ratio is None or not clean else ratio <= GOAL_RATIO}


def _figure(value: dict[str, float] | None) -> str:
    """
    >>> _figure({"median": 12.34, "low": 9.0, "high": 15.5}), _figure(None)
    ('12 (9.0-16)', '—')
    """
    if value is None:
        return "—"
    return f"{_short(value['median'])} ({_short(value['low'])}-{_short(value['high'])})"


def _short(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _ms(value: dict[str, float] | None, key: str) -> str:
    return "—" if value is None else _short(value[key])


def way_rows(summary: dict[str, Any]) -> list[str]:
    rows = ["| way | completed | failed | agent free → ringing p50 / p99 / max ms | wait p50 / p99 ms "
            "| CPU ms/offer Asterisk / app |", "|---|---|---|---|---|---|"]
    for way in ("app", "app_queue"):
        s = summary[way]
        ring, wait, cpu = s["free_to_ring_ms"], s["wait_ms"], s["cpu_ms_per_offer"]
        rows.append(f"| {way} | {s['completed']} | {s['failed']} "
                    f"| {' / '.join(_figure(ring[k]) for k in ('p50', 'p99', 'max'))} "
                    f"| {_figure(wait['p50'])} / {_figure(wait['p99'])} "
                    f"| {_figure(cpu.get('asterisk'))} / {_figure(cpu.get('app'))} |")
    return rows


def run_rows(runs: Sequence[Run]) -> list[str]:
    rows = ["| repeat | way | completed | failures | offers "
            "| agent free → ringing p50 / p99 / max ms (count) | wait p50 / p99 ms "
            "| CPU ms/offer Asterisk / app | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        ring, cpu = r["free_to_ring_ms"], r["cpu_ms_per_offer"]
        failures = ", ".join(f"{count} {why}" for why, count in r["failures"].items()) or "—"
        app_cpu = "—" if cpu.get("app") is None else _short(cpu["app"])
        rows.append(f"| {r['repeat']} | {r['way']} | {r['completed']} | {failures} | {r['offers']} "
                    f"| {' / '.join(_ms(ring, k) for k in ('p50', 'p99', 'max'))} ({_ms(ring, 'count')}) "
                    f"| {_ms(r['wait_ms'], 'p50')} / {_ms(r['wait_ms'], 'p99')} "
                    f"| {'—' if cpu['asterisk'] is None else _short(cpu['asterisk'])} / {app_cpu} "
                    f"| {r['seconds']:.0f} |")
    return rows


def headline(summary: dict[str, Any]) -> str:
    if summary["ratio"] is None:
        return "Agent free → ringing p99, app / app_queue: not measured."
    mark = {True: "met", False: "**missed**", None: "not judged: callers failed"}[summary["goal_met"]]
    app, queue = (summary[way]["free_to_ring_ms"]["p99"]["median"] for way in ("app", "app_queue"))
    return (f"Agent free → ringing p99, app / app_queue: **{summary['ratio']:.2f}x** ({_short(app)} vs "
            f"{_short(queue)} ms; goal <= {summary['goal']:g}x: {mark}).")


def _shared(asterisks: int) -> str:
    if not asterisks:
        return ""
    return (f" **The machine was shared**: {asterisks} other Asterisk process(es) ran meanwhile, so "
            "absolute figures are noisy; the ratio compares ways measured in the same run.")


def markdown(measured: dict[str, Any]) -> str:
    machine, plan, summary = measured["machine"], measured["plan"], measured["summary"]
    return "\n".join([
        "# Benchmark: callers waiting for agents, the app against Queue()",
        "",
        f"Generated by `ivr bench contention` on {measured['started']} ({measured['minutes']} min): "
        f"{plan['callers']} callers over {plan['arrival_seconds']:g} s, {plan['agents']} agents ringing "
        f"{plan['ring_ms'] / 1000:g} s and talking {plan['talk_ms'] / 1000:g} s, {plan['repeat']} "
        f"repetition(s) of each way. Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB, {machine['system']}; {machine['asterisk']}; {machine['sipp']}. "
        f"Load average at start: {', '.join(f'{v:.2f}' for v in machine['load_average_at_start'])}."
        + _shared(machine["other_asterisk_processes"]),
        "",
        headline(summary),
        "",
        "## Each way (median of the repetitions, lowest-highest)",
        "",
        *way_rows(summary),
        "",
        "## Every run",
        "",
        *run_rows(measured["runs"]),
        "",
        METHOD.format(agents=plan["agents"], ring_s=plan["ring_ms"] / 1000, talk_s=plan["talk_ms"] / 1000),
    ])


def write_report(measured: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, page = folder / "contention.json", folder / "contention.md"
    data.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    page.write_text(markdown(measured) + "\n", encoding="utf-8")
    return [data, page]
