"""What `ivr run` shows Prometheus at ``/metrics``: counters fed as calls end and ARI events
arrive, and gauges read from the live state at each scrape (calls in progress, each campaign's
line, agents by state, breakers, the record spool).

Each process has its own registry, so a test can run several side by side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.core.agents import AgentBoard, State
from ivr.core.waiting import Waiting
from ivr.store.call_log import CallRecord

log = logging.getLogger("ivr.metrics")

LAG_INTERVAL = 0.5
SMOOTHING = 0.2
"""Weight of each new ARI event's delay in ``event_delay_now`` (and of each request's time in
``request_time_now``): one late event does not refuse calls."""
CRM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
OUTCOMES = (("sent to", "sent_on"), ("caller hung up", "caller_hung_up"), ("hung up", "hung_up"),
            ("shutdown", "shutdown"), ("app stopped", "app_stopped"), ("callback", "callback"))


def outcome_kind(outcome: str) -> str:
    """A call record's outcome as a label of few values.

    >>> outcome_kind("sent to campaign sales (dialplan)"), outcome_kind("caller hung up (BYE)")
    ('sent_on', 'caller_hung_up')
    >>> outcome_kind("something new")
    'other'
    """
    return next((kind for prefix, kind in OUTCOMES if outcome.startswith(prefix)), "other")


def crm_kind(crm_outcome: str) -> str:
    """
    >>> crm_kind("routed 1,1"), crm_kind("unavailable"), crm_kind("")
    ('routed', 'unavailable', 'none')
    """
    return crm_outcome.split(" ", 1)[0] or "none"


@dataclass
class LiveState:
    """Where the gauges are read at each scrape; each is optional."""

    calls_in_progress: Callable[[], int] = lambda: 0
    lines: Callable[[], Mapping[str, list[Waiting]]] = dict
    board: AgentBoard | None = None
    ari_connections: Callable[[], int] = lambda: 0
    ari_connected: Callable[[], bool] = lambda: False
    open_breakers: Callable[[], int] = lambda: 0
    spooled_records: Callable[[], int] = lambda: 0
    callbacks_pending: Callable[[], int | None] = lambda: None
    api_refused: Callable[[], Mapping[int, int]] = dict
    turned_away: Callable[[], Mapping[str, int]] = dict
    ari_requests: Callable[[], Mapping[tuple[str, str], int]] = dict
    shed_share: Callable[[], int] = lambda: 0
    clock: Callable[[], float] = time.monotonic


class _Live(Collector):
    def __init__(self, state: LiveState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        state = self.state
        yield GaugeMetricFamily("ivr_calls_in_progress", "Calls the app is serving now",
                                value=state.calls_in_progress())
        waiting = GaugeMetricFamily("ivr_campaign_waiting", "Callers waiting in each campaign's line",
                                    labels=["campaign"])
        longest = GaugeMetricFamily("ivr_campaign_longest_wait_seconds",
                                    "How long the longest-waiting caller of each campaign has waited",
                                    labels=["campaign"])
        now = state.clock()
        for campaign, line in state.lines().items():
            waiting.add_metric([campaign], len(line))
            longest.add_metric([campaign], max((now - w.joined_at for w in line), default=0.0))
        yield waiting
        yield longest
        if state.board is not None:
            yield from self._agents(state.board)
        reconnects = CounterMetricFamily("ivr_ari_reconnects", "ARI event connections after the first")
        reconnects.add_metric([], max(0, state.ari_connections() - 1))
        yield reconnects
        yield GaugeMetricFamily("ivr_ari_connected", "1 while the ARI event stream is connected",
                                value=1 if state.ari_connected() else 0)
        yield GaugeMetricFamily("ivr_crm_breakers_open", "CRM circuit breakers open now (calls skip the CRM)",
                                value=state.open_breakers())
        yield GaugeMetricFamily("ivr_records_spooled", "Call records waiting in the local spool for the "
                                "database", value=state.spooled_records())
        refused = CounterMetricFamily("ivr_api_refused", "API and web page requests refused, by HTTP status "
                                      "(bad input, wrong tokens, limits)", labels=["status"])
        for status, count in sorted(state.api_refused().items()):
            refused.add_metric([str(status)], count)
        yield refused
        away = CounterMetricFamily("ivr_calls_turned_away", "Calls sent to the dialplan fallback at once by "
                                   "admission control, by the limit that refused them", labels=["limit"])
        for limit, count in sorted(state.turned_away().items()):
            away.add_metric([limit], count)
        yield away
        yield GaugeMetricFamily("ivr_admission_shed_percent", "The share of new callers the dialplan "
                                "turns away before they reach the app (admission control)",
                                value=state.shed_share())
        requests = CounterMetricFamily("ivr_ari_requests", "ARI REST requests sent, by method and resource",
                                       labels=["method", "resource"])
        for (method, resource), count in sorted(state.ari_requests().items()):
            requests.add_metric([method, resource], count)
        yield requests
        pending = state.callbacks_pending()
        if pending is not None:
            yield GaugeMetricFamily("ivr_callbacks_pending", "Callbacks waiting to be made", value=pending)

    @staticmethod
    def _agents(board: AgentBoard) -> Iterable[Metric]:
        by_state = Tally(board.status(agent).state for agent in board.agents)
        agents = GaugeMetricFamily("ivr_agents", "Agents by state", labels=["state"])
        for state in State:
            agents.add_metric([state.value], by_state.get(state, 0))
        yield agents
        statuses = [board.status(agent) for agent in board.agents]
        offers = CounterMetricFamily("ivr_agent_offers", "Calls offered to agents (rung)")
        offers.add_metric([], sum(s.offers for s in statuses))
        answers = CounterMetricFamily("ivr_agent_answers", "Offers agents answered")
        answers.add_metric([], sum(s.answers for s in statuses))
        yield offers
        yield answers


class Polled:
    """A value read from the database now and then, for a gauge: a scrape never waits on it."""

    def __init__(self, read: Callable[[], Awaitable[int]], every: float = 15.0) -> None:
        self.read = read
        self.every = every
        self.value: int | None = None

    def __call__(self) -> int | None:
        return self.value

    async def run(self) -> None:
        """Until cancelled; a failed read leaves the gauge out until the next one works."""
        while True:
            try:
                self.value = await self.read()
            except Exception as exc:  # whatever the driver raises: the gauge waits for the next read
                log.debug("metrics: %s: %s", type(exc).__name__, exc)
                self.value = None
            await asyncio.sleep(self.every)


class Metrics:
    def __init__(self, state: LiveState | None = None) -> None:
        self.registry = CollectorRegistry()
        self.state = state or LiveState()
        self.registry.register(_Live(self.state))
        self.calls = Counter("ivr_calls", "Calls ended, by outcome", ["outcome"], registry=self.registry)
        self.agent_calls = Counter("ivr_calls_with_agent", "Calls ended that talked to an agent",
                                   registry=self.registry)
        self.crm = Counter("ivr_crm_requests", "CRM lookups, by outcome", ["outcome"], registry=self.registry)
        self.crm_seconds = Histogram("ivr_crm_request_seconds", "Time the CRM took to answer",
                                     buckets=CRM_BUCKETS, registry=self.registry)
        self.event_delay = Histogram("ivr_ari_event_delay_seconds",
                                     "From Asterisk's timestamp of an ARI event to the app reading it",
                                     buckets=LAG_BUCKETS, registry=self.registry)
        self.loop_lag = Histogram("ivr_event_loop_lag_seconds", "How late a short sleep of the app wakes up",
                                  buckets=LAG_BUCKETS, registry=self.registry)
        self.request_time = Histogram("ivr_ari_request_seconds",
                                      "An ARI request, from the wait for a connection to Asterisk's answer",
                                      buckets=LAG_BUCKETS, registry=self.registry)

    loop_lag_now = 0.0
    """The last sample of the loop's lag (admission control)."""
    event_delay_now = 0.0
    """ARI events' delay, smoothed over the last few (admission control)."""
    request_time_now = 0.0
    """ARI requests' time, smoothed over the last few (admission control)."""

    def call_ended(self, record: CallRecord) -> None:
        self.calls.labels(outcome_kind(record.outcome)).inc()
        if record.agent:
            self.agent_calls.inc()
        if record.crm_outcome:
            self.crm.labels(crm_kind(record.crm_outcome)).inc()
            if record.crm_ms is not None:
                self.crm_seconds.observe(record.crm_ms / 1000)

    def ari_event(self, event: Mapping[str, object]) -> None:
        stamp = event.get("timestamp")
        if not isinstance(stamp, str):
            return
        try:
            sent = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            return
        delay = max(0.0, time.time() - sent)
        self.event_delay.observe(delay)
        self.event_delay_now += SMOOTHING * (delay - self.event_delay_now)

    def ari_request(self, seconds: float) -> None:
        self.request_time.observe(seconds)
        self.request_time_now += SMOOTHING * (seconds - self.request_time_now)

    async def sample_loop_lag(self) -> None:
        """Until cancelled."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag_now = max(0.0, time.monotonic() - before - LAG_INTERVAL)
            self.loop_lag.observe(self.loop_lag_now)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
