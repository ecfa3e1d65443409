"""Caller id from the network, made safe to store, log and print.

A SIP From header can carry any byte its sender likes: CR and LF would forge lines in a log or
a report, ESC would drive the terminal of whoever runs ``ivr calls``. Such characters are kept,
but as visible escapes, so the record still shows what was sent.
"""

from __future__ import annotations

MAX_LENGTH = 80
"""Caller id and number dialled as a call record keeps them (the ``calls`` table's columns)."""


def visible(text: str) -> str:
    r"""The text with every control or other unprintable character written as an escape.

    >>> visible("+34 600 100 200")
    '+34 600 100 200'
    >>> visible("100\r\nEvil: yes\x1b[2J")
    '100\\x0d\\x0aEvil: yes\\x1b[2J'
    >>> visible("Zoë \x85\u202e")
    'Zoë \\x85\\u202e'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def cut_notes(**values: str) -> list[str]:
    """A note for each value longer than a record keeps, saying it was cut.

    >>> cut_notes(caller="1" * 90, did="100")
    ['caller id cut to 80 characters (it had 90)']
    """
    names = {"caller": "caller id", "did": "number dialled"}
    return [f"{names.get(name, name)} cut to {MAX_LENGTH} characters (it had {len(value)})"
            for name, value in values.items() if len(value) > MAX_LENGTH]
