"""JSON from outside (a CRM, a team webhook, an API client), parsed within limits.

``json.loads`` alone recurses once per nesting level (thousands of ``[`` raise RecursionError,
which is no ValueError), turns ``1e999999`` into infinity, raises a bare ValueError on an integer
of more than 4300 digits, reads ``NaN`` and takes the last of duplicate keys. Here every one of
these is a ``JsonInputError`` (a ValueError) whose message says what was wrong, and the depth is
counted by a scan of the brackets outside strings before anything recurses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_DIGITS = 100

# A JSON string (escapes included; unterminated runs to the end), or one bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class JsonInputError(ValueError):
    """Input that is not JSON within the limits; the message says why, for a log or a reply."""


def parse_json(data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
               allow_bom: bool = False, allow_duplicates: bool = False) -> Any:
    """The value, or JsonInputError naming what was wrong.

    >>> parse_json(b'{"agents": ["ana"]}')
    {'agents': ['ana']}
    >>> parse_json(b'[' * 5000 + b']' * 5000)
    Traceback (most recent call last):
    ...
    ivr.json_input.JsonInputError: nested deeper than 32 levels
    >>> parse_json(b'{"destination": "1,2", "destination": "5,1"}')
    Traceback (most recent call last):
    ...
    ivr.json_input.JsonInputError: duplicate key 'destination'
    >>> parse_json(b'\\xef\\xbb\\xbf{}')
    Traceback (most recent call last):
    ...
    ivr.json_input.JsonInputError: starts with a byte-order mark
    >>> parse_json(b'{"a": "\\xff"}')
    Traceback (most recent call last):
    ...
    ivr.json_input.JsonInputError: not valid UTF-8 at byte 7
    """
    text = _text(data, max_bytes, allow_bom)
    if not text.strip():
        raise JsonInputError("empty")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonInputError(f"nested deeper than {max_depth} levels")
    hook = None if allow_duplicates else _no_duplicates
    try:
        return json.loads(text, object_pairs_hook=hook, parse_int=_integer,
                          parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not JSON: {exc}") from None


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings, without recursing.

    >>> nesting_depth('{"a": [1, {"b": "[[[["}]}')
    3
    >>> nesting_depth('"just a string"')
    0
    """
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _text(data: bytes | str, max_bytes: int, allow_bom: bool) -> str:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JsonInputError(f"larger than {max_bytes} bytes")
    bom = next((b for b in _BOMS if raw.startswith(b)), None)
    if bom is not None and not allow_bom:
        raise JsonInputError("starts with a byte-order mark")
    try:
        return raw[len(bom or b""):].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not valid UTF-8 at byte {exc.start + len(bom or b'')}") from None


def _no_duplicates(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError(f"duplicate key {_short(key)}")
        result[key] = value
    return result


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise JsonInputError(f"a number of {digits} digits (at most {MAX_DIGITS})")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"number out of range: {_short(text)}")
    return value


def _no_constant(text: str) -> float:
    raise JsonInputError(f"{text} is not JSON")


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
