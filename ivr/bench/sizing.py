"""The sizing of many concurrent calls from measured figures (`ivr bench`, `ivr bench claims`,
`ivr bench kamailio`): pure arithmetic, so that every figure of the report can be checked, and
the database work of one call, counted from the code that does it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.bench.goals import find, most_without_failures
from ivr.bench.repetitions import by_load
from ivr.store.claims import RENEW_SECONDS


@dataclass(frozen=True)
class Spread:
    """The median of repeated runs, and the lowest and highest."""

    median: float
    low: float
    high: float

    def text(self, digits: int = 0) -> str:
        """
        >>> Spread(12.34, 11.0, 13.06).text(1), Spread(5.0, 5.0, 5.0).text()
        ('12.3 (11.0-13.1)', '5 (5-5)')
        """
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


def spread(values: Sequence[float]) -> Spread:
    """
    >>> spread([3.0, 1.0, 2.0])
    Spread(median=2.0, low=1.0, high=3.0)
    """
    if not values:
        raise ValueError("no runs")
    return Spread(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class DbWork:
    """One piece of the database work of a call."""

    what: str
    statements: int
    rows: int
    """Rows written (inserted, updated or deleted)."""
    batched: bool
    """Gathered with other calls' in one transaction (ivr.store.call_log, ivr.store.queue_log):
    at a few calls a second per node, a batch rarely holds more than one call, so it is counted
    as a transaction of its own."""


PER_CALL: tuple[DbWork, ...] = (
    DbWork("call noted in progress (ivr_calls_open insert; CallLogWriter.opened)", 1, 1, True),
    DbWork("caller joins the shared line (ivr_waiting insert; AgentClaims.joined)", 1, 1, False),
    DbWork("agent claimed: caller ahead on another node? then ivr_agent_claims update "
           "(AgentClaims.claim)", 2, 1, False),
    DbWork("Kamailio finds the agent's phone (location select, usrloc db_mode 3)", 1, 0, False),
    DbWork("caller answered, leaves the line (ivr_waiting delete; AgentClaims.left)", 1, 1, False),
    DbWork("claim released after wrap-up (ivr_agent_claims update; AgentClaims.release)", 1, 1, False),
    DbWork("call record (ivr_calls insert, ivr_calls_open delete; CallLog.add)", 2, 2, True),
    DbWork("queue_log ENTERQUEUE, CONNECT, COMPLETE* and the agent's ringing, on-call, wrap-up, "
           "ready in ivr_agent_history (QueueLogStore.add)", 2, 7, True),
)
"""One call answered by the first agent offered, on an app node sharing the database with
others. Each further offer (an agent who does not answer) adds a claim, a lookup, a release and
a RINGNOANSWER row; an agent's pause or login adds one presence upsert."""

CLAIM_CYCLE_STATEMENTS = 5
"""What one offer of `ivr bench claims` runs: joined (1), claim (2), left (1), release (1)."""
CLAIM_CYCLE_TRANSACTIONS = 4

NODE_STATEMENTS_PER_S = 1 + 1 + 1 / 2 + 2 / 30 + 1 / 10 + 4 / RENEW_SECONDS + 1 / 15
"""Each app node's own reads and renewals, whatever its calls: other nodes' agents' presence
(every second, ivr.store.agents), backend events due (every second), callbacks due (every 2 s,
and 2 statements of housekeeping every 30 s), spare counts (every 10 s), its claims, callers
in the line and calls in progress renewed and dead nodes' calls looked for (4 statements every
RENEW_SECONDS), the callbacks-pending gauge (every 15 s)."""


@dataclass(frozen=True)
class CallWork:
    transactions: int
    statements: int
    rows: int


def per_call(work: Sequence[DbWork] = PER_CALL) -> CallWork:
    """
    >>> per_call()
    CallWork(transactions=8, statements=11, rows=14)
    """
    return CallWork(len(work), sum(w.statements for w in work), sum(w.rows for w in work))


@dataclass(frozen=True)
class NodeCapacity:
    """One node as `ivr bench` measured it: the app's ramp."""

    concurrent: int
    """The most concurrent calls it carried without a failure."""
    limit_reached: bool
    """Whether a higher load of the ramp failed; if not, the limit is higher than measured."""
    asterisk_cpu_ms: float
    app_cpu_ms: float
    """CPU per call at that load, the median of its repetitions."""
    cores: int


def node_capacity(benchmark: Mapping[str, Any]) -> NodeCapacity:
    runs = benchmark["runs"]
    carried = most_without_failures(runs, "app")
    run = find(by_load(runs), "app", "ramp", carried)
    if run is None:
        raise ValueError("the benchmark has no app ramp run without failures")
    failed = any(r["failed"] for r in runs if (r["way"], r["phase"]) == ("app", "ramp"))
    cpu = run["cpu_ms_per_call"]
    return NodeCapacity(carried, failed, cpu["asterisk"], cpu["app"], benchmark["machine"]["cores"])


def call_rate(concurrent: int, mean_seconds: float) -> float:
    """Calls started per second to keep ``concurrent`` calls of ``mean_seconds`` going (Little's law).

    >>> call_rate(10_000, 200)
    50.0
    """
    return concurrent / mean_seconds


def nodes_needed(concurrent: int, per_node: int, load_share: float, spares: int) -> int:
    """Nodes each carrying at most ``load_share`` of ``per_node``, and ``spares`` more so that
    as many nodes may fail or be drained.

    >>> nodes_needed(10_000, 400, 1.0, 0), nodes_needed(10_000, 400, 0.8, 1)
    (25, 33)
    """
    return math.ceil(concurrent / (per_node * load_share)) + spares


@dataclass(frozen=True)
class Sizing:
    concurrent: int
    mean_seconds: float
    calls_per_s: float
    nodes: int
    db_transactions_per_s: float
    db_statements_per_s: float
    renewed_rows_per_s: float
    """Rows the nodes renew every RENEW_SECONDS: each call in progress, and the claim of each
    agent in a call (at most one per call)."""
    node_cores: float
    """Asterisk's and the app's CPU for the call rate (call setup, claims), in cores, over all
    nodes."""
    kamailio_cores: float


def size(concurrent: int, mean_seconds: float, node: NodeCapacity, nodes: int,
         kamailio_ms_per_call: float, claim_cpu_ms: float = 0.0, kamailio_legs: int = 2) -> Sizing:
    """``claim_cpu_ms``: the app's CPU for the database work of an offer (`ivr bench claims`),
    which the benchmark's single node (SQLite, no other node) did not do. ``kamailio_legs``: the
    caller's call, and the node's call to the agent's phone registered to Kamailio.

    >>> node = NodeCapacity(400, False, 36.4, 15.5, 2)
    >>> s = size(10_000, 200, node, 33, 0.8, claim_cpu_ms=5.0)
    >>> s.calls_per_s, s.db_transactions_per_s, round(s.db_statements_per_s, 1), round(s.renewed_rows_per_s)
    (50.0, 400.0, 684.2, 6667)
    >>> round(s.node_cores, 2), s.kamailio_cores
    (2.85, 0.08)
    """
    rate = call_rate(concurrent, mean_seconds)
    work = per_call()
    return Sizing(
        concurrent, mean_seconds, rate, nodes, rate * work.transactions,
        rate * work.statements + nodes * NODE_STATEMENTS_PER_S, 2 * concurrent / RENEW_SECONDS,
        rate * (node.asterisk_cpu_ms + node.app_cpu_ms + claim_cpu_ms) / 1000,
        rate * kamailio_legs * kamailio_ms_per_call / 1000)
