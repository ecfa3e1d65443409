"""JSON from outside parsed within limits: every bad input is one JsonInputError that says why."""

from __future__ import annotations

import time

import pytest

from ivr.json_input import JsonInputError, nesting_depth, parse_json


@pytest.mark.parametrize(("data", "message"), [
    (b"[" * 30_000 + b"]" * 30_000, "nested deeper than 32 levels"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested deeper than 32 levels"),
    (b"[" * 60_000, "nested deeper than 32 levels"),
    (b'{"destination": "1,2", "destination": "5,1"}', "duplicate key 'destination'"),
    (b'{"a": {"x": 1, "x": 2}}', "duplicate key 'x'"),
    (b'\xef\xbb\xbf{"status": "ok"}', "starts with a byte-order mark"),
    ('\ufeff{"status": "ok"}', "starts with a byte-order mark"),
    (b'\xff\xfe{\x00}\x00', "starts with a byte-order mark"),
    (b'{"a": "caf\xe9"}', "not valid UTF-8 at byte 10"),
    (b'{"a": "\xed\xa0\x80"}', "not valid UTF-8 at byte 7"),
    (b" " * (64 * 1024 + 1), f"larger than {64 * 1024} bytes"),
    (b"", "empty"),
    (b" \r\n\t", "empty"),
    (b"1e999999", "number out of range: '1e999999'"),
    (b"[-1e999999]", "number out of range: '-1e999999'"),
    (b"1" * 60_000, "a number of 60000 digits (at most 100)"),
    (b"-" + b"9" * 5000, "a number of 5000 digits (at most 100)"),
    (b"NaN", "NaN is not JSON"),
    (b"[Infinity]", "Infinity is not JSON"),
    (b"<html>", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    (b'{"a": 1', "not JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    (b'"unterminated [[[[', "not JSON: Unterminated string starting at: line 1 column 1 (char 0)"),
])
def test_bad_input_is_one_error_that_says_why(data: bytes | str, message: str) -> None:
    with pytest.raises(JsonInputError) as raised:
        parse_json(data)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(("data", "value"), [
    (b'{"agents": ["ana", "bo"]}', {"agents": ["ana", "bo"]}),
    ('{"name": "Zo\u00eb"}', {"name": "Zo\u00eb"}),
    (b'{"s": "\\"[[[[\\\\"}', {"s": '"[[[[\\'}),
    (b"[" * 32 + b"]" * 32, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    (b"9" * 100, int("9" * 100)),
    (b"1.5e300", 1.5e300),
    (b"null", None),
])
def test_good_input_within_the_limits(data: bytes | str, value: object) -> None:
    assert parse_json(data) == value


def test_options_let_a_bom_and_duplicates_through_and_change_the_limits() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1}', allow_bom=True) == {"a": 1}
    assert parse_json(b'{"a": 1, "a": 2}', allow_duplicates=True) == {"a": 2}
    with pytest.raises(JsonInputError, match=r"^nested deeper than 2 levels$"):
        parse_json(b"[[[1]]]", max_depth=2)
    with pytest.raises(JsonInputError, match=r"^larger than 10 bytes$"):
        parse_json(b'"' + b"x" * 10 + b'"', max_bytes=10)
    with pytest.raises(JsonInputError, match=r"^not valid UTF-8 at byte 5$"):
        parse_json(b'\xef\xbb\xbf"a\xff"', allow_bom=True)


def test_beyond_the_size_limit_depth_and_digits_are_still_caught() -> None:
    with pytest.raises(JsonInputError, match=r"^nested deeper than 32 levels$"):
        parse_json(b"[" * 1_000_000 + b"]" * 1_000_000, max_bytes=10**7)
    with pytest.raises(JsonInputError, match=r"^a number of 100000 digits \(at most 100\)$"):
        parse_json(b"1" * 100_000, max_bytes=10**7)


def test_a_long_duplicate_key_is_shortened_in_the_message() -> None:
    key = "k" * 500
    with pytest.raises(JsonInputError) as raised:
        parse_json(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert len(str(raised.value)) < 60


def test_depth_is_counted_outside_strings_only() -> None:
    assert nesting_depth('["]]]]", {"k": "{{{{"}]') == 2
    assert nesting_depth('"\\\\" [ [') == 2
    assert parse_json('{"k": "' + "[" * 10_000 + '"}') == {"k": "[" * 10_000}


def test_the_largest_input_is_parsed_quickly() -> None:
    worst = b'["' + b"\\\"" * (32 * 1024 - 4) + b'"]'
    started = time.perf_counter()
    parse_json(worst)
    parse_json(b"[" * 32 + b"0," * (32 * 1024 - 40) + b"0" + b"]" * 32)
    assert time.perf_counter() - started < 0.5
