"""A ``#`` typed right after a full-length customer ID belongs to that entry, not to the next
node; a ``#`` typed later, or any other key, is the next node's."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ivr.core.commands import Play
from ivr.core.events import DigitPressed, PlaybackFinished
from tests.unit.test_call_flow import MAIN_MENU, NOW, Call, customer_flow


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def call_to_menu_after_the_entry(tmp_path: Path, clock: Clock, **fields: object) -> Call:
    call = Call(customer_flow(tmp_path, on_identified="menu:main", **fields))
    call.flow.now = call.flow.ctx.now = clock
    call.start("100")
    call.prompt_ends()
    return call


def played(commands: list[object]) -> list[tuple[str, ...]]:
    return [c.media for c in commands if isinstance(c, Play)]


def test_the_terminator_just_after_a_full_entry_is_that_entrys(tmp_path: Path) -> None:
    clock = Clock()
    call = call_to_menu_after_the_entry(tmp_path, clock)

    assert played(call.press("1234")) == [MAIN_MENU]
    clock.now += timedelta(seconds=1)
    assert call.press("#") == []
    call.send(PlaybackFinished(call.playing))
    call.press("2")

    assert call.facts.nodes == ["identification:customer", "menu:main", "campaign:support"]
    assert call.facts.notes == []


def test_a_terminator_later_than_the_inter_digit_time_is_the_next_nodes(tmp_path: Path) -> None:
    clock = Clock()
    call = call_to_menu_after_the_entry(tmp_path, clock)
    call.press("1234")
    clock.now += timedelta(seconds=3.5)

    assert played(call.send(DigitPressed("#"))) == [("sound:ivr/invalid-option", *MAIN_MENU)]


def test_only_the_very_next_key_may_be_the_late_terminator(tmp_path: Path) -> None:
    clock = Clock()
    call = call_to_menu_after_the_entry(tmp_path, clock)
    call.press("1234")
    call.press("7")
    call.press("#")

    assert call.facts.entries == ["1234", "7", "#"]


def test_an_entry_ended_by_the_terminator_leaves_no_late_terminator(tmp_path: Path) -> None:
    clock = Clock()
    call = call_to_menu_after_the_entry(tmp_path, clock, expected_length=0, max_length=8)
    call.press("1234#")

    assert played(call.press("#")) == [("sound:ivr/invalid-option", *MAIN_MENU)]
