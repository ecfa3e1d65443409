"""`ivr bench sizing`: the page that sizes many concurrent calls from the committed runs
(docs/benchmarks.json, docs/bench/claims.json, docs/bench/kamailio.json), each figure with the
run it comes from; the arithmetic is in ivr.bench.sizing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ivr.bench.sizing import (
    CLAIM_CYCLE_STATEMENTS,
    CLAIM_CYCLE_TRANSACTIONS,
    PER_CALL,
    NodeCapacity,
    Sizing,
    node_capacity,
    nodes_needed,
    per_call,
    size,
    spread,
)

LOAD_SHARE = 0.8
"""Each node planned at 80 % of the calls it carried, for bursts."""
SPARES = 1
"""And one node more, so that one may fail or be drained for an upgrade."""
DURATIONS = (120.0, 180.0, 300.0)
"""Mean call durations (IVR, wait and talk) the sizing is given for: not measured here."""

Doc = dict[str, Any]


def _runs(doc: Doc, kind: str, **match: Any) -> list[Doc]:
    return [r for r in doc["runs"]
            if r.get("kind", kind) == kind and all(r[k] == v for k, v in match.items())]


def best_claims(claims: Doc) -> tuple[int, float]:
    """The number of nodes with the highest median claims per second, and that median.

    >>> best_claims({"plan": {"nodes": [1, 2]}, "runs": [
    ...     {"kind": "claims", "nodes": 1, "claims_per_s": 100.0},
    ...     {"kind": "claims", "nodes": 2, "claims_per_s": 150.0},
    ...     {"kind": "claims", "nodes": 2, "claims_per_s": 170.0}]})
    (2, 160.0)
    """
    medians = {n: spread([r["claims_per_s"] for r in _runs(claims, "claims", nodes=n)]).median
               for n in claims["plan"]["nodes"]}
    nodes = max(medians, key=lambda n: medians[n])
    return nodes, medians[nodes]


def claims_section(claims: Doc) -> list[str]:
    plan, pg = claims["plan"], claims["postgresql"]
    baselines = _runs(claims, "baseline")
    select1 = spread([b["select1_per_s"] for b in baselines])
    commits = spread([b["commits_per_s"] for b in baselines])
    lines = [
        "## PostgreSQL: claims per second (`ivr bench claims`)", "",
        f"Run {claims['started']}, {len(baselines)} repeats; PostgreSQL {pg['server_version']} on this "
        f"machine (fsync {pg['fsync']}, synchronous_commit {pg['synchronous_commit']}, shared_buffers "
        f"{pg['shared_buffers']}). Each node a process of its own with the app's engine, "
        f"{plan['concurrency']} offers in flight, {plan['calls']} calls in progress held and renewed; "
        f"{plan['seconds']:g} s measured after {plan['warm_up']:g} s. Median (lowest-highest) of the "
        "repeats.", "",
        f"Baseline, one connection, one request at a time: {select1.text()} `SELECT 1` per second, "
        f"{commits.text()} commits of a one-row update per second.", "",
        "| nodes | claims/s (granted) | claims/s ÷ one connection's commits/s | statements/s | claim p50 ms "
        "| claim p99 ms | CPU ms per claim, PostgreSQL / nodes | machine busy | refused, errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_repeat = {b["repeat"]: b["commits_per_s"] for b in baselines}
    for nodes in plan["nodes"]:
        runs = _runs(claims, "claims", nodes=nodes)
        rate = spread([r["claims_per_s"] for r in runs])
        ratio = spread([r["claims_per_s"] / by_repeat[r["repeat"]] for r in runs])
        statements = spread([r["claims_per_s"] * CLAIM_CYCLE_STATEMENTS for r in runs])
        lines.append(
            f"| {nodes} | {rate.text()} | {ratio.text(2)}x | {statements.text()} "
            f"| {spread([r['claim_ms']['p50'] for r in runs]).text(1)} "
            f"| {spread([r['claim_ms']['p99'] for r in runs]).text(1)} "
            f"| {spread([r['cpu_ms_per_claim']['postgresql'] for r in runs]).text(2)} / "
            f"{spread([r['cpu_ms_per_claim']['nodes'] for r in runs]).text(2)} "
            f"| {spread([r['machine_busy'] * 100 for r in runs]).text()} % "
            f"| {sum(r['refused'] for r in runs)}, {sum(r['errors'] for r in runs)} |")
    return [*lines, "", f"A claim here is one offer's work: {CLAIM_CYCLE_TRANSACTIONS} transactions, "
            f"{CLAIM_CYCLE_STATEMENTS} statements (the caller joins the line, the claim checks the line "
            "and updates the agent's row, the caller leaves, the claim is released).", ""]


def kamailio_section(kamailio: Doc) -> list[str]:
    plan, runs = kamailio["plan"], kamailio["runs"]
    cpu = {key: spread([r["cpu_ms_per_call"][key] for r in runs])
           for key in ("kamailio", "kamailio_with_idle", "sipp_caller", "sipp_nodes")}
    ratio = spread([r["cpu_ms_per_call"]["kamailio"] / r["cpu_ms_per_call"]["sipp_caller"] for r in runs])
    calls = sum(r["successful"] for r in runs)
    changes = [f"repeat {r['repeat']}: {', '.join(r['node_changes'])}" for r in runs if r.get("node_changes")]
    flapped = ([f"Nodes' state changed during the calls (Kamailio's probes; the calls went to the others): "
                f"{'; '.join(changes)}.", ""] if changes else [])
    return [
        "## Kamailio: CPU per call (`ivr bench kamailio`)", "",
        f"Run {kamailio['started']}, {kamailio['kamailio']}, the configuration `ivr cluster` renders, "
        f"{plan['nodes']} SIPp answering machines as the nodes; {len(runs)} repeats of {plan['calls']} calls "
        f"at {plan['rate']:g}/s, each {plan['hold_ms']} ms between ACK and BYE, with ACK and BYE "
        f"through Kamailio; {calls} of {plan['calls'] * len(runs)} calls completed.", "",
        *flapped,
        "| CPU ms per call | median (lowest-highest) |", "|---|---|",
        f"| Kamailio (all its processes, less its idle CPU) | {cpu['kamailio'].text(3)} |",
        f"| Kamailio, idle CPU included | {cpu['kamailio_with_idle'].text(3)} |",
        f"| SIPp caller (baseline) | {cpu['sipp_caller'].text(3)} |",
        f"| SIPp answering nodes, together | {cpu['sipp_nodes'].text(3)} |",
        f"| Kamailio ÷ SIPp caller | {ratio.text(2)}x |", "",
    ]


def node_section(node: NodeCapacity, benchmark: Doc) -> list[str]:
    bound = ("its limit (a higher load failed)" if node.limit_reached
             else "not its limit (the ramp ended there)")
    return [
        "## One node (`ivr bench`, [benchmarks.md](../benchmarks.md))", "",
        f"Run {benchmark['started']} on {node.cores} cores: the app carried {node.concurrent} concurrent "
        f"calls without a failure, {bound}; CPU per call at that load: Asterisk "
        f"{node.asterisk_cpu_ms:.1f} ms, the app {node.app_cpu_ms:.1f} ms. Its callers send DTMF, then "
        "no media while held: the CPU of relaying the calls' audio is not in these figures.", "",
    ]


def sizing_section(concurrent: int, node: NodeCapacity, claims: Doc, kamailio: Doc,
                   durations: Sequence[float] = DURATIONS) -> list[str]:
    nodes = nodes_needed(concurrent, node.concurrent, LOAD_SHARE, SPARES)
    kamailio_ms = spread([r["cpu_ms_per_call"]["kamailio"] for r in kamailio["runs"]]).median
    best_nodes, best_rate = best_claims(claims)
    measured_statements = best_rate * CLAIM_CYCLE_STATEMENTS
    best_runs = _runs(claims, "claims", nodes=best_nodes)
    busy = spread([r["machine_busy"] for r in best_runs]).median
    best_node_ms = spread([r["cpu_ms_per_claim"]["nodes"] for r in best_runs]).median
    best_pg_ms = spread([r["cpu_ms_per_claim"]["postgresql"] for r in best_runs]).median
    # The most PostgreSQL spent per claim, over the numbers of nodes: the most renewals and
    # connections, and the most contention.
    pg_nodes, pg_ms = max(((n, spread([r["cpu_ms_per_claim"]["postgresql"]
                                       for r in _runs(claims, "claims", nodes=n)]).median)
                           for n in claims["plan"]["nodes"]), key=lambda pair: pair[1])
    claim_ms = spread([r["cpu_ms_per_claim"]["nodes"] for r in _runs(claims, "claims")]).median
    sizes = [size(concurrent, seconds, node, nodes, kamailio_ms, claim_ms) for seconds in durations]
    lines = [
        f"## {concurrent:,} concurrent calls", "",
        f"Nodes: {concurrent:,} ÷ {node.concurrent} = {nodes_needed(concurrent, node.concurrent, 1.0, 0)} "
        f"nodes at the load one node carried; at {LOAD_SHARE:.0%} of it, and {SPARES} more: "
        f"**{nodes} nodes** of {node.cores} cores.{_by_cpu(sizes, node)}", "",
        "| mean call | calls/s | DB statements/s (÷ measured) | DB transactions/s | rows renewed/s "
        "| PostgreSQL CPU, cores (estimate) | Asterisk + app CPU, cores | Kamailio CPU, cores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        lines.append(_sizing_row(s, measured_statements, pg_ms))
    return [*lines, "",
            f"Measured: {measured_statements:.0f} statements/s ({best_rate:.0f} claims/s at {best_nodes} "
            f"node(s), the best median), with the machine {busy:.0%} busy: the rate is the machine's, "
            f"the nodes spending {best_node_ms:.1f} ms of CPU per claim and PostgreSQL {best_pg_ms:.2f} "
            "ms, so a PostgreSQL on cores of its own grants more. PostgreSQL's CPU is estimated at "
            f"the most it spent per claim, {pg_ms:.2f} ms at {pg_nodes} node(s) "
            f"({CLAIM_CYCLE_STATEMENTS} statements, with every node's renewals), per statement. The "
            f"Asterisk + app CPU is call setup (no media), with the app's {claim_ms:.1f} ms per claim "
            "measured on the nodes. Kamailio carries each call twice: the "
            "caller's INVITE, and the node's call to the agent's phone registered to it.", ""]


def _by_cpu(sizes: Sequence[Sizing], node: NodeCapacity) -> str:
    """What the CPU of call setup alone would ask, when it asks fewer nodes than the load carried."""
    most = max(s.node_cores for s in sizes)
    by_cpu = math.ceil(most / (node.cores * LOAD_SHARE)) + SPARES
    if by_cpu >= sizes[0].nodes or node.limit_reached:
        return ""
    return (f" That is an upper bound: {node.concurrent} calls is where the ramp ended, not a limit. "
            f"The CPU of call setup alone (the table: {most:.1f} cores at most) would ask {by_cpu} "
            "nodes; the calls' audio, which the benchmark's callers do not send, is what a node's "
            "limit with real calls will depend on, and it is not measured yet.")


def _sizing_row(s: Sizing, measured_statements: float, pg_ms_per_claim: float) -> str:
    pg_cores = s.db_statements_per_s * pg_ms_per_claim / CLAIM_CYCLE_STATEMENTS / 1000
    return (f"| {s.mean_seconds:.0f} s | {s.calls_per_s:.1f} | {s.db_statements_per_s:.0f} "
            f"({s.db_statements_per_s / measured_statements:.1f}x) | {s.db_transactions_per_s:.0f} "
            f"| {s.renewed_rows_per_s:.0f} | {pg_cores:.2f} | {s.node_cores:.1f} | {s.kamailio_cores:.2f} |")


def work_section() -> list[str]:
    total = per_call()
    lines = ["## The database work of one call", "",
             "One call answered by the first agent offered, on an app node sharing the database "
             "with others; counted from the code (ivr.bench.sizing.PER_CALL).", "",
             "| work | statements | rows written | transaction |", "|---|---|---|---|"]
    lines += [f"| {w.what} | {w.statements} | {w.rows} | {'batched' if w.batched else 'own'} |"
              for w in PER_CALL]
    return [*lines, f"| **one call** | **{total.statements}** | **{total.rows}** | "
            f"**{total.transactions}** (a batch counted as one) |", ""]


def markdown(benchmark: Doc, claims: Doc, kamailio: Doc, concurrent: int, generated: str) -> str:
    node = node_capacity(benchmark)
    machine = claims["machine"]
    lines = [
        f"# Sizing {concurrent:,} concurrent calls: the measured figures", "",
        f"Generated by `ivr bench sizing` on {generated} from docs/benchmarks.json, docs/bench/claims.json "
        f"and docs/bench/kamailio.json. Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['system']}; shared with other work (load average at the start "
        f"{', '.join(f'{v:.2f}' for v in machine['load_average_at_start'])}), hence the repeats.", "",
        *claims_section(claims), *kamailio_section(kamailio), *node_section(node, benchmark),
        *sizing_section(concurrent, node, claims, kamailio), *work_section(),
    ]
    return "\n".join(lines)
