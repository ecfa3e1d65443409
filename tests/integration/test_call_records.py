"""Every call served by the app leaves one record, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import App, Pbx
from tests.postgres import own_database
from tests.unit.fake_crm import FakeCrm


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"IVR_DATABASE__URL": f"sqlite:///{tmp_path / 'calls.sqlite3'}"}
        return
    with own_database("ivr_e2e") as url:
        yield {"IVR_DATABASE__URL": url}


def test_a_served_call_leaves_its_record(pbx: Pbx, tmp_path: Path, database: dict[str, str]) -> None:
    app = App(pbx, tmp_path / "app.log", env=database)
    try:
        app.wait_connected(1)
        report = pbx.call("100", "--dtmf", "2468#")
    finally:
        app.stop()
    listed = pbx.ivr("calls", "--json", env=database)

    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["did"] == "100"
    assert records[0]["digits"] == "2468"
    assert records[0]["customer_id"] == "2468"
    assert records[0]["nodes"] == "identification:demo > message:thanks > hangup"
    assert records[0]["outcome"] == "hung up by the flow"
    assert records[0]["hangup_cause"] == "hung up by the flow (normal)"
    assert records[0]["answered_at"] >= records[0]["started_at"]
    assert report["hangup_cause"] == 16


CRM_FLOW = """
[entry]
"200" = "identification:crm"
"201" = "identification:slow"

[identification.crm]
expected_length = 4
interaction = "destination"
url = "{url}/dest"
on_identified = "hangup"
on_not_identified = "hangup"

[identification.slow]
expected_length = 4
interaction = "destination"
url = "{url}/slow?6"
deadline = 8.0
on_identified = "hangup"
on_not_identified = "hangup"

[campaign.gold]
id = 1
"""


def test_records_keep_the_crm_facts_and_mask_digits(pbx: Pbx, tmp_path: Path,
                                                     database: dict[str, str]) -> None:
    crm = FakeCrm()
    env = {**database, "IVR_RECORDS__DIGITS": "mask", "IVR_RECORDS__KEEP_LAST": "2"}
    config = pbx.configured(tmp_path, CRM_FLOW.format(url=crm.url))
    app = App(pbx, tmp_path / "app.log", env=env, config=config)
    try:
        app.wait_connected(1)
        routed = pbx.call("200", "--dtmf", "1111", "--send-at", "prompt-start", config=config)
        gone = pbx.call("201", "--dtmf", "2468", "--send-at", "prompt-start", "--timeout", "4",
                        config=config)
    finally:
        app.stop()
        crm.close()
    listed = pbx.ivr("calls", "--json", env=env, config=config)
    records = {r["did"]: r for r in map(json.loads, listed.stdout.splitlines())}

    assert routed["variables"]["IVR_DESTINATION"] == "campaign:gold"
    record = records["200"]
    assert record["customer_id"] == "**11" and record["digits"] == "**11"
    assert record["nodes"] == "identification:crm > campaign:gold"
    assert record["crm_outcome"] == "routed 1,1" and isinstance(record["crm_ms"], int)
    assert record["variables"] == {"name": "Ana", "priority": "1"}
    assert record["destination"] == "campaign:gold"
    assert record["outcome"] == "sent to campaign gold"
    assert gone["timed_out"]
    record = records["201"]
    assert record["crm_outcome"] == "cancelled"
    assert record["crm_reason"] == "the caller hung up during the lookup"
    assert record["outcome"].startswith("caller hung up")
    assert "CRM lookup cancelled: the caller hung up" in app.text()
