"""The benchmark's report: the measurements as JSON, a markdown page (goals, then every run)
and a PNG plot, all from the measured dictionary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ivr.bench.goals import Goal, Run, find, judge
from ivr.bench.plan import WARM_UP_CALLS
from ivr.bench.plot import plot

METHOD = """## How it was measured

One `ivr bench` run: the project's own Asterisk 22 (the bundled root, instance `bench`, its own
ports), real SIPp callers sending the customer id `1357` as RFC 2833 DTMF (the `sip-tester`
captures) after a beep, a CRM on 127.0.0.1 (`idContact=1357` answered `"1,1"`: campaign 1),
and one SIPp agent pool answering every call at once. The same flow runs three ways, one load
after the other, the three ways interleaved at each load so that a busy moment of the shared
machine hits all of them:

- **dialplan**: `Read` + `CURL` + `Dial`, in
  [dialplan/asterisk/extensions_bench.conf](../dialplan/asterisk/extensions_bench.conf);
- **agi**: the same dialplan, with the CRM asked by a new Python process per call (the OMniLeads
  way), started by a FastAGI server that forks one per connection (`ivr/bench/agi_spawner.py`);
- **app**: `ivr run` with a flow file (identification node, then a campaign of as many agents as
  the highest load, all phones at the pool, `longest-idle`).

Dialplan and AGI dial one endpoint (`agent-pool`); the app rings one agent per caller, as its
campaigns do: the same SIPp process answers all of them the same way.

Latency is read from Asterisk's own timestamps on its AMI events (`timestampevents`), the same
for the three ways: *last digit* is the `DTMFEnd` of the fourth key received on the caller's
channel; *agent answered* is the agent leg (`PJSIP/agent-*`, linked to the caller) going `Up`;
*bridged* is when both are in one bridge; *INVITE to answer* is from the caller's channel
creation to its `Up`. A call is *completed* when it was bridged with an agent; the failures
say why not. CPU is user+system time from `/proc` over each run (Asterisk; `ivr run` for the
app; the FastAGI server and its per-call processes for AGI), divided by the calls. Memory per
call is the growth of resident memory at the peak of the run over the calls. The event-loop lag
is sampled inside `ivr run` every 200 ms (`IVR_LOOP_LAG_FILE`).

Each way first takes {warm_up} calls that are not reported: the first calls of a process pay
once for connections, caches and code run for the first time. Each load starts its callers at
`rate` per second and keeps each connected until the last one is in, so that all are connected
together at the peak. The ramp of concurrent calls starts at most 10 calls a second, a busy
contact center's pace; a way stops climbing at its first load with a failure. The `rate` run
starts 100 calls at 25 a second, to see each way set calls up fast; it and the slow-CRM runs are
made by all three ways. What these runs found in the app and what was fixed, with figures before
and after, is in [docs/decisions.md](decisions.md#benchmark-ivr-bench).
"""


def _ms(value: dict[str, float] | None, key: str) -> str:
    return "—" if value is None else f"{value[key]:.0f}" if value[key] >= 10 else f"{value[key]:.1f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _mark(goal: Goal) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[goal.met]


def run_rows(runs: Sequence[Run]) -> list[str]:
    rows = ["| way | phase | calls | rate /s | CRM s | completed | failures "
            "| digit→agent p50 / p95 / p99 / max ms | digit→bridge p99 ms | INVITE→answer p50 / p99 ms "
            "| CPU ms/call app / Asterisk | app MB/call | loop lag p99 ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        latency = r["digit_to_agent_answer_ms"]
        cpu = r["cpu_ms_per_call"]
        failures = ", ".join(f"{count} {why}" for why, count in r["failures"].items()) or "—"
        rows.append(
            f"| {r['way']} | {r['phase']} | {r['concurrent']} | {r['rate']:g} | {r['crm_latency_s']:g} "
            f"| {r['completed']}/{r['attempted']} | {failures} "
            f"| {' / '.join(_ms(latency, k) for k in ('p50', 'p95', 'p99', 'max'))} "
            f"| {_ms(r['digit_to_bridge_ms'], 'p99')} "
            f"| {_ms(r['invite_to_answer_ms'], 'p50')} / {_ms(r['invite_to_answer_ms'], 'p99')} "
            f"| {_number(cpu.get('app'))} / {_number(cpu['asterisk'])} "
            f"| {_number(r['mb_per_concurrent_call'].get('app'), 2)} | {_ms(r['loop_lag_ms'], 'p99')} |")
    return rows


def ratio_rows(runs: Sequence[Run]) -> list[str]:
    """At each ramp load where the app and a baseline both ran: p99 latency ratios."""
    rows = ["| calls | app p99 / dialplan p99 | app p99 / AGI p99 | app CPU / Asterisk CPU |",
            "|---|---|---|---|"]
    for level in sorted({r["concurrent"] for r in runs if r["phase"] == "ramp"}):
        app = find(runs, "app", "ramp", level)
        if app is None or app["digit_to_agent_answer_ms"] is None:
            continue
        ours = app["digit_to_agent_answer_ms"]["p99"]
        cells = []
        for way in ("dialplan", "agi"):
            other = find(runs, way, "ramp", level)
            theirs = None if other is None or other["digit_to_agent_answer_ms"] is None else (
                other["digit_to_agent_answer_ms"]["p99"])
            cells.append("—" if not theirs else f"{ours / theirs:.2f}x")
        cpu = app["cpu_ms_per_call"]
        cells.append(f"{cpu['app'] / cpu['asterisk']:.2f}x" if cpu["asterisk"] else "—")
        rows.append(f"| {level} | {' | '.join(cells)} |")
    return rows


def ramp_top(runs: Sequence[Run]) -> list[str]:
    """A sentence for the ways that carried the ramp's highest load without a failure: their
    limit lies beyond what was measured."""
    levels = [r["concurrent"] for r in runs if r["phase"] == "ramp"]
    if not levels:
        return []
    top = max(levels)
    clean = [r["way"] for r in runs if r["phase"] == "ramp" and r["concurrent"] == top and not r["failed"]]
    if not clean:
        return []
    return [f"The ramp ends at {top} concurrent calls; {', '.join(clean)} carried it without a failure, "
            "so their limit on this machine is higher than measured.", ""]


def markdown(measured: dict[str, Any], plot_name: str) -> str:
    machine = measured["machine"]
    runs = measured["runs"]
    shared = machine["other_asterisk_processes"]
    lines = [
        "# Benchmark: the app against pure dialplan and AGI",
        "",
        f"Generated by `ivr bench{' --quick' if measured['quick'] else ''}` on {measured['started']} "
        f"({measured['minutes']} min). Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB, {machine['system']}; Python {machine['python']}; "
        f"{machine['asterisk']}; {machine['sipp']}. Load average at start: "
        f"{', '.join(f'{v:.2f}' for v in machine['load_average_at_start'])}."
        + (f" **The machine was shared**: {shared} other Asterisk process(es) ran during the "
           "benchmark, so absolute figures are noisy; the ratios compare ways measured in the same run."
           if shared else ""),
        "",
        "## Goals",
        "",
        "| goal | target | measured | |",
        "|---|---|---|---|",
        *(f"| {g.name} | {g.target} | {g.measured} | {_mark(g)} |" for g in judge(runs)),
        "",
        *ramp_top(runs),
        f"![latency and CPU against load]({plot_name})",
        "",
        "## Ratios at each load of the ramp",
        "",
        *ratio_rows(runs),
        "",
        "## Every run",
        "",
        *run_rows(runs),
        "",
        METHOD.format(warm_up=WARM_UP_CALLS),
    ]
    return "\n".join(lines)


def write_report(measured: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, page, picture = (folder / f"benchmarks.{kind}" for kind in ("json", "md", "png"))
    data.write_text(json.dumps(measured, indent=1) + "\n")
    plot(measured["runs"], picture)
    page.write_text(markdown(measured, picture.name) + "\n")
    return [data, page, picture]
