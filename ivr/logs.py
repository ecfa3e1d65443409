"""Log lines on stderr: one line each, time, level, logger, message; or, with
``log.format = "json"``, one JSON object per line with the call's fields when known."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

FIELDS = ("call", "linked_id", "campaign", "agent", "node")
"""What a line of a call carries in JSON, when known."""
CALL_TASK = "call-"
"""Each call's session runs in a task named ``call-<channel id>`` (ivr/stasis/app.py): a line
logged from it belongs to that call, whatever its message says."""
PREFIXES = {"call %s": "call", "agent %s": "agent"}
"""The text format's convention, ``call %s: ...``, read back as a field."""

bound: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("ivr_log_fields",
                                                                                   default=())


def bind(**fields: str) -> None:
    """Fields for every line logged from now on in this task (and tasks it starts)."""
    bound.set(tuple({**dict(bound.get()), **fields}.items()))


def fields_of(record: logging.LogRecord) -> dict[str, str]:
    """The call fields known for a line: given as ``extra``, bound, the task's, the message's."""
    known: dict[str, str] = {}
    if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
        for prefix, field in PREFIXES.items():
            if record.msg.startswith(prefix):
                known[field] = str(record.args[0])
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is not None and task.get_name().startswith(CALL_TASK):
        known["call"] = task.get_name().removeprefix(CALL_TASK)
    known |= dict(bound.get())
    known |= {field: str(getattr(record, field)) for field in FIELDS if getattr(record, field, None)}
    return known


class JsonFormatter(logging.Formatter):
    """One JSON object per line.

    >>> record = logging.LogRecord("ivr.stasis", logging.INFO, "", 0, "call %s: answered", ("1.2",), None)
    >>> record.created = 0.0
    >>> print(JsonFormatter().format(record))  # doctest: +NORMALIZE_WHITESPACE
    {"time": "1970-01-01T00:00:00.000Z", "level": "info", "logger": "ivr.stasis",
     "message": "call 1.2: answered", "call": "1.2"}
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def setup(level: str, format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    for noisy in ("httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
