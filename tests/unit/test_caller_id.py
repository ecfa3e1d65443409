"""Caller id from the network: control characters escaped where it enters, stored and printed;
values longer than the record keeps are cut with a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.agi.identify import caller_and_did
from ivr.core.caller_id import MAX_LENGTH, visible
from ivr.core.events import CallStarted
from ivr.report_commands import call_line
from ivr.stasis.translate import translate
from ivr.store.call_log import CallRecord
from ivr.store.schema import calls
from tests.unit.test_call_flow import Call, customer_flow

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "shown"), [
    ("600\r\n111", "600\\x0d\\x0a111"),
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("a\tb\x00c\x7f", "a\\x09b\\x00c\\x7f"),
    ("\x85\x9b31m", "\\x85\\x9b31m"),
    ("Ana \u202egnp.exe", "Ana \\u202egnp.exe"),
    ("José Núñez", "José Núñez"),
    ("+34 600 100 200", "+34 600 100 200"),
])
def test_control_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert visible(raw).isprintable()


def test_caller_id_is_escaped_as_it_enters_from_ari() -> None:
    channel = {"id": "c1", "caller": {"number": "600\r\nX-Evil: 1", "name": "\x1b[31mBoss"},
               "dialplan": {"exten": "100"}}

    event = translate({"type": "StasisStart", "args": ["inbound", "100"], "channel": channel})

    assert event == CallStarted(caller="600\\x0d\\x0aX-Evil: 1", exten="100", route="inbound",
                                caller_name="\\x1b[31mBoss")


def test_the_record_column_is_what_the_caller_id_is_cut_to() -> None:
    assert calls.c.caller.type.length == calls.c.did.type.length == MAX_LENGTH  # type: ignore[attr-defined]


def test_a_caller_id_too_long_for_the_record_is_noted(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path), START)
    call.send(CallStarted("7" * 120, "100", "flows"))

    assert call.facts.notes == ["caller id cut to 80 characters (it had 120)"]


def test_a_caller_id_that_fits_is_not_noted(tmp_path: Path) -> None:
    call = Call(customer_flow(tmp_path), START)
    call.send(CallStarted("7" * 80, "100", "flows"))

    assert call.facts.notes == []


def test_ivr_calls_prints_a_raw_record_escaped() -> None:
    record = CallRecord("c1", "600\r\n2026-03-02 fake line\x1b[2J", "100", "flows", START,
                        START + timedelta(seconds=3), "", "caller hung up\x07")

    line = call_line(record)

    assert "\r" not in line and "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert "600\\x0d\\x0a2026-03-02 fake line\\x1b[2J -> 100" in line
    assert line.endswith("=> caller hung up\\x07")


def test_the_fastagi_path_escapes_caller_id_and_number_dialled_like_ari() -> None:
    env = {"callerid": "600\x1b[2J\x07", "extension": "100\x00", "uniqueid": "1.1"}

    assert caller_and_did(env) == ("600\\x1b[2J\\x07", "100\\x00")
