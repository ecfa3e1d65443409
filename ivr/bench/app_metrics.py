"""What a call costs the app's link to Asterisk, from its /metrics before and after a run:
ARI REST requests (by method and resource) and ARI events per call, and the calls admission
control turned away."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, float]

REQUESTS = "ivr_ari_requests_total"
EVENTS = "ivr_ari_event_delay_seconds_count"
TURNED_AWAY = "ivr_calls_turned_away_total"
CALLS = "ivr_calls_total"


def scrape(url: str, token_file: Path) -> str:
    token = token_file.read_text().strip()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # an HTTP error raises
        return str(answer.read().decode())


def samples(text: str) -> Samples:
    """Each sample of the exposition, named with its labels' values (in their order).

    >>> samples('ivr_ari_requests_total{method="POST",resource="channels"} 3.0\\n'
    ...         'ivr_ari_event_delay_seconds_count 8.0\\n')
    {'ivr_ari_requests_total POST channels': 3.0, 'ivr_ari_event_delay_seconds_count': 8.0}
    """
    return {" ".join([sample.name, *sample.labels.values()]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _grown(before: Samples, after: Samples, name: str) -> dict[str, float]:
    """The samples of ``name`` that grew, by their labels' values."""
    return {key.removeprefix(name).strip(): value - before.get(key, 0.0) for key, value in after.items()
            if (key == name or key.startswith(name + " ")) and value > before.get(key, 0.0)}


def per_call(before: Samples, after: Samples, calls: int) -> dict[str, Any]:
    """ARI requests and events per call between two scrapes, and the calls ended (by outcome)
    and turned away meanwhile.

    >>> before = {"ivr_ari_requests_total POST channels": 2.0, "ivr_ari_event_delay_seconds_count": 5.0}
    >>> after = {"ivr_ari_requests_total POST channels": 22.0, "ivr_ari_requests_total GET bridges": 10.0,
    ...          "ivr_ari_event_delay_seconds_count": 85.0, "ivr_calls_total hangup": 10.0,
    ...          "ivr_calls_turned_away_total max_calls": 3.0}
    >>> figures = per_call(before, after, 10)
    >>> figures["ari_requests"], figures["ari_requests_by"], figures["ari_events"]
    (3.0, {'POST channels': 2.0, 'GET bridges': 1.0}, 8.0)
    >>> figures["turned_away"], figures["calls_by_outcome"]
    (3, {'hangup': 10})
    """
    requests = _grown(before, after, REQUESTS)
    return {"ari_requests": sum(requests.values()) / calls,
            "ari_requests_by": {key: count / calls for key, count in requests.items()},
            "ari_events": sum(_grown(before, after, EVENTS).values()) / calls,
            "turned_away": round(sum(_grown(before, after, TURNED_AWAY).values())),
            "calls_by_outcome": {key: round(count) for key, count in _grown(before, after, CALLS).items()}}
