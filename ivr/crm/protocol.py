"""The OMniLeads "customer identification" protocol, so a CRM written for OMniLeads works as is.

Request (as OMniLeads sends it, captured on the wire)::

    POST /crm HTTP/1.1
    User-Agent: OMniLeads
    Content-Type: application/x-www-form-urlencoded

    idContact=30565584

Answer: JSON ``{"status": "ok"|"fail", "destination": "true"|"false"|"X,Y"}`` (and, our extra,
never required, ``"variables": {"name": "Ana"}`` passed along with the call), X a destination
type code (1 inbound campaign, 2 time condition, 3 IVR menu, 5 hang-up, 9 identification) and Y
the id of a configured destination. Parsing is strict: nothing else is accepted, and nothing
from the answer is ever used but these two validated integers.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from ivr.core.crm_answer import Answer, Identified, Interaction, NotIdentified, Routed, Unavailable, Variables
from ivr.json_input import JsonInputError, parse_json

_PAIR = re.compile(r"([0-9]{1,9}),([0-9]{1,9})")
_VARIABLE = re.compile(r"[a-z][a-z0-9_]{0,30}")
MAX_VARIABLES = 20
MAX_VALUE = 200


def request_body(customer_id: str, extras: dict[str, str] | None = None) -> bytes:
    """The form body: ``idContact`` first, as OMniLeads sends it; extras only if configured.

    >>> request_body("30565584")
    b'idContact=30565584'
    >>> request_body("12", {"callerId": "+34 600"})
    b'idContact=12&callerId=%2B34+600'
    """
    return urlencode({"idContact": customer_id, **(extras or {})}).encode()


def parse_answer(body: bytes, interaction: Interaction) -> Answer:
    """The CRM's answer, or Unavailable with the reason it could not be taken.

    >>> parse_answer(b'{"status": "ok", "destination": "1,3"}', Interaction.DESTINATION)
    Routed(type_code=1, destination_id=3, variables=())
    >>> parse_answer(b'{"status": "ok", "destination": "true"}', Interaction.TRUE_FALSE)
    Identified(variables=())
    >>> parse_answer(b'{"status": "fail", "destination": "true"}', Interaction.TRUE_FALSE)
    Unavailable(reason='CRM answered status "fail"')

    A byte-order mark and a key given twice are refused, not guessed at (which ``destination``
    would the CRM mean?); so are answers nested deeper than 32 levels or larger than 64 KiB:

    >>> parse_answer(b'{"status": "ok", "destination": "1,3", "destination": "5,1"}', Interaction.DESTINATION)
    Unavailable(reason="answer: duplicate key 'destination'")
    """
    try:
        data = parse_json(body)
    except JsonInputError as exc:
        return Unavailable(f"answer: {exc}")
    if not isinstance(data, dict):
        return Unavailable("JSON is not an object")
    status, destination = data.get("status"), data.get("destination")
    if status not in ("ok", "fail"):
        return Unavailable(f"status must be \"ok\" or \"fail\", got {_short(status)}")
    if status == "fail":
        return Unavailable('CRM answered status "fail"')
    if not isinstance(destination, str):
        return Unavailable(f"destination must be a string, got {_short(destination)}")
    variables = _variables(data.get("variables", {}))
    if isinstance(variables, Unavailable):
        return variables
    return _destination(destination, interaction, variables)


def _variables(data: object) -> Variables | Unavailable:
    """The optional extra: ``{"name": "Ana", "priority": "2"}``, short printable strings only.

    >>> _variables({"name": "Ana", "priority": "2"})
    (('name', 'Ana'), ('priority', '2'))
    >>> _variables({"Name": "x"})
    Unavailable(reason="variable name 'Name' must match [a-z][a-z0-9_]{0,30}")
    """
    if not isinstance(data, dict):
        return Unavailable(f"variables must be an object, got {_short(data)}")
    if len(data) > MAX_VARIABLES:
        return Unavailable(f"at most {MAX_VARIABLES} variables, got {len(data)}")
    pairs = []
    for key, value in data.items():
        if not _VARIABLE.fullmatch(key):
            return Unavailable(f"variable name {_short(key)} must match [a-z][a-z0-9_]{{0,30}}")
        if not isinstance(value, str) or len(value) > MAX_VALUE or not value.isprintable():
            return Unavailable(f"variable {key}: expected printable text of at most {MAX_VALUE} "
                               f"characters, got {_short(value)}")
        pairs.append((key, value))
    return tuple(pairs)


def _destination(destination: str, interaction: Interaction, variables: Variables) -> Answer:
    if destination == "false":
        return NotIdentified(variables)
    if destination == "true" and interaction is Interaction.TRUE_FALSE:
        return Identified(variables)
    pair = _PAIR.fullmatch(destination)
    if pair and interaction is Interaction.DESTINATION:
        return Routed(int(pair.group(1)), int(pair.group(2)), variables)
    expected = '"true" or "false"' if interaction is Interaction.TRUE_FALSE else '"X,Y" or "false"'
    return Unavailable(f"destination must be {expected}, got {_short(destination)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
