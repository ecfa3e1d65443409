"""The body of a request to an HTTP SMS provider, from a template with ``{to}``, ``{sender}`` and
``{text}``.

The template is parsed first and the values are put into the parsed strings, so a text with
quotes, ``&`` or newlines cannot change the body's structure:

>>> values = {"to": "+4930", "sender": "ivr", "text": 'a "b" & c'}
>>> print(render(parse('{"to": "{to}", "text": "{text}"}', JSON), values))
{"to": "+4930", "text": "a \\"b\\" & c"}
>>> render(parse("to={to}&text={text}", FORM), values)
'to=%2B4930&text=a+%22b%22+%26+c'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
FIELDS = ("to", "sender", "text")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


@dataclass(frozen=True)
class BodyTemplate:
    content_type: str
    parsed: Any  # a JSON value, or the form's (name, value) pairs


def parse(text: str, content_type: str) -> BodyTemplate:
    """Raise ValueError naming what is wrong: not JSON / form syntax, an unknown placeholder,
    ``{to}`` or ``{text}`` missing."""
    if content_type == JSON:
        try:
            parsed: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not valid JSON ({exc}); each placeholder goes inside a JSON "
                             'string, e.g. {"text": "{text}"}') from None
    else:
        try:
            parsed = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise ValueError("body is not a form (name=value&name=value), e.g. to={to}&text={text}") from None
    used = {name for string in _strings(parsed) for name in _PLACEHOLDER.findall(string)}
    if unknown := sorted(used - set(FIELDS)):
        raise ValueError(f"body has unknown placeholder {{{unknown[0]}}}: "
                         "expected {to}, {sender}, {text}")
    if missing := [name for name in ("to", "text") if name not in used]:
        raise ValueError(f"body lacks {{{missing[0]}}}")
    return BodyTemplate(content_type, parsed)


def render(template: BodyTemplate, values: Mapping[str, str]) -> str:
    if template.content_type == JSON:
        return json.dumps(_filled(template.parsed, values), ensure_ascii=False)
    return urlencode([(name, _fill(value, values)) for name, value in template.parsed])


def _strings(parsed: Any) -> list[str]:
    if isinstance(parsed, dict):
        return [s for value in parsed.values() for s in _strings(value)]
    if isinstance(parsed, list):
        return [s for item in parsed for s in _strings(item)]
    if isinstance(parsed, tuple):  # a form's pair
        return [parsed[1]]
    return [parsed] if isinstance(parsed, str) else []


def _filled(parsed: Any, values: Mapping[str, str]) -> Any:
    if isinstance(parsed, dict):
        return {key: _filled(value, values) for key, value in parsed.items()}
    if isinstance(parsed, list):
        return [_filled(item, values) for item in parsed]
    return _fill(parsed, values) if isinstance(parsed, str) else parsed


def _fill(string: str, values: Mapping[str, str]) -> str:
    """One pass, so a text holding ``{to}`` stays as it is."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), string)
