"""Where a call can be sent: a typed reference ``kind:name`` to a node of the flow.

The kinds that OMniLeads has carry its numeric codes, so a CRM answering ``"X,Y"`` names a kind
by code and a node by the numeric ``id`` the admin gave it. The other kinds (message, voicemail,
dialplan, external) have no code: a CRM answer can never reach them directly, only through a node
an admin wired to them.
"""

from __future__ import annotations

from dataclasses import dataclass

CODES: dict[str, int] = {
    "campaign": 1,
    "time": 2,
    "menu": 3,
    "hangup": 5,
    "identification": 9,
}
KINDS = (*CODES, "message", "voicemail", "dialplan", "external")
KIND_OF_CODE = {code: kind for kind, code in CODES.items()}


@dataclass(frozen=True, order=True)
class Destination:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind

    @property
    def code(self) -> int | None:
        return CODES.get(self.kind)


HANG_UP = Destination("hangup", "")


def parse_destination(text: str) -> Destination:
    """``kind:name``, or ``hangup`` alone for a plain hang-up.

    >>> parse_destination("menu:main")
    Destination(kind='menu', name='main')
    >>> parse_destination("hangup") == HANG_UP
    True
    >>> parse_destination("queue:x")
    Traceback (most recent call last):
    ValueError: unknown kind 'queue' (expected kind:name, kind one of campaign, time, menu, hangup, \
identification, message, voicemail, dialplan, external)
    """
    if text == "hangup":
        return HANG_UP
    kind, sep, name = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected kind:name, kind one of {', '.join(KINDS)})")
    if not sep or not name:
        raise ValueError(f"expected {kind}:<name>, got {text!r}")
    return Destination(kind, name)
