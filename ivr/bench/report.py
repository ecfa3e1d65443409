"""The benchmark's report: the measurements as JSON, a markdown page (goals, limits, overload,
then every load's medians) and a PNG plot, all from the measured dictionary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ivr.bench.goals import Goal, judge
from ivr.bench.plan import WARM_UP_CALLS
from ivr.bench.plot import plot
from ivr.bench.repetitions import by_load
from ivr.bench.report_tables import (
    limit_rows,
    overload_rows,
    per_call_rows,
    ratio_rows,
    requests_by_resource,
    run_rows,
)

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
contact center's pace, and climbs until each way fails or the cap; a way stops climbing at its
first load with a failure. That ramp ends at the machine's open files before any way runs out of
CPU, so a second one climbs the call rate: callers arrive at 20, 40, 60... a second for 10 s,
each staying 2 s after the keys (a few hundred calls in progress at most), and a way fails a rate
when a call fails or its p99 from last digit to agent answered passes 1 s. The slow-CRM runs are
made by all three ways. The whole plan is repeated
(`--repeat`), one repetition after the other, so that a busy moment of the machine hits one
repetition of every way rather than every repetition of one; the tables give the median of the
repetitions and their spread (lowest to highest), and the goals are judged on the medians. A way's
limit is the highest load that no repetition failed; *machine CPU* is how busy all the
machine's cores were over a run (`/proc/stat`): at 95% or more, the machine ran out, not the way.

The overload runs twice the app's limit (its call rate's when a rate failed it; else its concurrent
calls', or twice the cap if the app never failed) through the app with admission control
(`[admission]`, [docs/metrics.md](metrics.md#admission-control)) and through pure dialplan. A
caller is *completed* (bridged with an agent), *sent to the fallback* (its channel hung up in
`ivr-fallback`; the benchmark's fallback refuses the call as busy, `pbx.fallback.kind = "busy"`,
a SIP 486 that costs Asterisk no media), *refused* (another SIP error or no answer), or *lost*:
none of these. When the app's limit is a call rate, the app runs the overload with
`admission.max_call_rate` a tenth under it, as [docs/metrics.md](metrics.md#admission-control)
advises. The app's ARI requests and events per call are read from its
`/metrics` before and after each run (`ivr_ari_requests_total`,
`ivr_ari_event_delay_seconds_count`); AMI events per call are those of the five kinds the
benchmark reads (`Newchannel`, `Newstate`, `DTMFEnd`, `BridgeEnter`, `Hangup`). What these
runs found in the app and what was fixed, with figures before and after, is in
[docs/decisions.md](decisions.md#benchmark-ivr-bench).
"""


def _mark(goal: Goal) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[goal.met]


def overload_section(measured: dict[str, Any]) -> list[str]:
    overloaded = measured.get("overload")
    if not overloaded:
        return []
    admission = ", ".join(f"`{name} = {value:g}`" for name, value in overloaded["admission"].items())
    if overloaded.get("by_rate"):
        load = (f"{overloaded['calls']} calls started at {overloaded['rate']:g} a second, each staying "
                f"{overloaded['hold_ms'] / 1000:g} s after the keys")
    else:
        load = f"{overloaded['calls']} concurrent calls"
    return ["## Overload", "",
            f"{load}, {overloaded['why']}. The app runs with admission "
            f"control ({admission}); pure dialplan takes every call.", "",
            *overload_rows(measured["runs"]), ""]


def _capped(measured: dict[str, Any]) -> list[str]:
    """Why the ramp stopped below the top asked for, if it did.

    >>> _capped({"plan": {"max_calls": 950, "capped_by": "the machine's open files"}})
    ["The ramp's top is 950 calls: the machine's open files.", '']
    >>> _capped({"plan": {"max_calls": 2000}})
    []
    """
    plan = measured.get("plan", {})
    if not plan.get("capped_by"):
        return []
    return [f"The ramp's top is {plan['max_calls']} calls: {plan['capped_by']}.", ""]


def _repetitions(measured: dict[str, Any]) -> str:
    repeat = measured.get("plan", {}).get("repeat", 1)
    return f" ({repeat}), with their spread (lowest to highest)" if repeat > 1 else ""


def markdown(measured: dict[str, Any], plot_name: str) -> str:
    machine = measured["machine"]
    runs = measured["runs"]
    medians = by_load(runs)
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
        "## Limits",
        "",
        *limit_rows(runs),
        "",
        *_capped(measured),
        f"![latency and CPU against load, medians of the repetitions]({plot_name})",
        "",
        *overload_section(measured),
        "## Ratios at each load of the ramp (medians)",
        "",
        *ratio_rows(medians),
        "",
        "## Requests and events per call (medians)",
        "",
        *per_call_rows(medians),
        "",
        *requests_by_resource(medians),
        f"## Every load: the median of its repetitions{_repetitions(measured)}",
        "",
        *run_rows(medians),
        "",
        METHOD.format(warm_up=WARM_UP_CALLS),
    ]
    return "\n".join(lines)


def write_report(measured: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, page, picture = (folder / f"benchmarks.{kind}" for kind in ("json", "md", "png"))
    data.write_text(json.dumps(measured, indent=1) + "\n")
    plot(by_load(measured["runs"]), picture)
    page.write_text(markdown(measured, picture.name) + "\n")
    return [data, page, picture]
