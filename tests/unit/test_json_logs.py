"""`log.format = "json"`: one object per line, the call's fields where the line belongs to a call."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from ivr import logs


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("ivr.test-json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)


def parsed(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_line_from_a_calls_task_carries_its_call_id_and_bound_fields(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test-json")

    async def session() -> None:
        logs.bind(campaign="sales", node="identification:demo")
        log.info("CRM answered in %d ms", 12)

    await asyncio.create_task(session(), name="call-1712.42")
    log.info("not a call's line")
    first, second = parsed(lines)
    assert first["message"] == "CRM answered in 12 ms" and first["level"] == "info"
    assert (first["call"], first["campaign"], first["node"]) == ("1712.42", "sales", "identification:demo")
    assert first["logger"] == "ivr.test-json" and first["time"].endswith("Z")
    assert set(second) == {"time", "level", "logger", "message"}


def test_fields_come_from_the_message_prefix_and_from_extra(lines: io.StringIO) -> None:
    log = logging.getLogger("ivr.test-json")
    log.warning("agent %s: paused after %d offers", "ana", 3)
    log.info("offer rung", extra={"call": "1.5", "linked_id": "1.4", "agent": "bo"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("call %s: session crashed", "1.9")
    paused, rung, crashed = parsed(lines)
    assert paused["agent"] == "ana" and paused["level"] == "warning"
    assert (rung["call"], rung["linked_id"], rung["agent"]) == ("1.5", "1.4", "bo")
    assert crashed["call"] == "1.9" and "ValueError: boom" in crashed["exception"]


def test_text_stays_the_default() -> None:
    from ivr.settings import Settings

    assert Settings().log.format == "text"
    assert Settings(log={"format": "json"}).log.format == "json"
