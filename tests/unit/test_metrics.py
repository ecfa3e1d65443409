from datetime import UTC, datetime

from ivr.core.agents import AgentBoard, AgentProfile
from ivr.core.waiting import Waiting
from ivr.metrics import LiveState, Metrics
from ivr.store.call_log import CallRecord

T = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_the_exposition_counts_calls_and_reads_the_live_state_at_each_scrape() -> None:
    now = [100.0]
    board = AgentBoard({"ana": AgentProfile("ana"), "bo": AgentProfile("bo")}, lambda: now[0])
    board.log_in("ana")
    lines = {"sales": [Waiting("c1", 5, 70.0, 1), Waiting("c2", 5, 90.0, 2)]}
    metrics = Metrics(LiveState(lambda: 3, lambda: lines, board, lambda: 2, lambda: True, lambda: 1, lambda: 4,
                                lambda: 6, lambda: {400: 2, 429: 1}, lambda: {"max_calls": 3},
                                lambda: {("POST", "channels"): 5}, lambda: 40, lambda: now[0]))
    metrics.call_ended(CallRecord("c0", "600", "100", "demo", T, T, "", "sent to campaign sales", agent="ana",
                                  crm_outcome="routed 1,1", crm_ms=120))
    metrics.ari_event({"type": "StasisStart", "timestamp": "2026-12-07T10:00:00.000+0000"})
    metrics.ari_event({"type": "StasisStart", "timestamp": "not a time"})

    text = metrics.exposition().decode()

    for line in ['ivr_calls_total{outcome="sent_on"} 1.0', "ivr_calls_with_agent_total 1.0",
                 'ivr_crm_requests_total{outcome="routed"} 1.0', 'ivr_crm_request_seconds_bucket{le="0.25"} 1.0',
                 "ivr_calls_in_progress 3.0", 'ivr_campaign_waiting{campaign="sales"} 2.0',
                 'ivr_campaign_longest_wait_seconds{campaign="sales"} 30.0', 'ivr_agents{state="ready"} 1.0',
                 'ivr_agents{state="logged-out"} 1.0', "ivr_ari_reconnects_total 1.0", "ivr_ari_connected 1.0",
                 "ivr_crm_breakers_open 1.0", "ivr_records_spooled 4.0", "ivr_callbacks_pending 6.0",
                 "ivr_ari_event_delay_seconds_count 1.0", 'ivr_api_refused_total{status="400"} 2.0',
                 'ivr_calls_turned_away_total{limit="max_calls"} 3.0', "ivr_admission_shed_percent 40.0",
                 'ivr_ari_requests_total{method="POST",resource="channels"} 5.0']:
        assert line in text.splitlines(), line


def test_ari_requests_times_are_counted_and_smoothed_for_admission_control() -> None:
    metrics = Metrics()
    for seconds in (0.002, 0.003, 1.2):
        metrics.ari_request(seconds)

    lines = metrics.exposition().decode().splitlines()

    assert "ivr_ari_request_seconds_count 3.0" in lines
    assert 'ivr_ari_request_seconds_bucket{le="0.005"} 2.0' in lines
    assert 0.2 < metrics.request_time_now < 0.3  # one slow request moves it a fifth of the way
