"""How a backend knows an event came from ivr: an HMAC-SHA256 of the timestamp and the body, keyed
with the campaign's secret, sent in headers beside the event id.

The timestamp is signed too, and a receiver refuses one too far from its own clock, so a recorded
request cannot be replayed later.

>>> body = b'{"id": "5f0c", "type": "answered"}'
>>> signature = sign("s3cret", "1767225600", body)
>>> signature
'sha256=5f53e959dd623f7f1a56daac6995fe5f65ef330a63a69a5c311388ef577693b2'
>>> verify("s3cret", "1767225600", body, signature, now=1767225630)
True
"""

from __future__ import annotations

import hashlib
import hmac

EVENT_ID_HEADER = "X-Ivr-Event-Id"
TIMESTAMP_HEADER = "X-Ivr-Timestamp"
"""Unix seconds, as an integer string."""
SIGNATURE_HEADER = "X-Ivr-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float,
           tolerance: float = 300) -> bool:
    """Whether ``signature`` is ours for this body and timestamp, the timestamp within
    ``tolerance`` seconds of ``now``.

    >>> signature = sign("s3cret", "1767225600", b"{}")
    >>> verify("s3cret", "1767225600", b'{"x": 1}', signature, now=1767225600)  # another body
    False
    >>> verify("s3cret", "1767225600", b"{}", signature, now=1767225600 + 301)  # replayed later
    False
    >>> verify("other", "1767225600", b"{}", signature, now=1767225600)
    False
    >>> verify("s3cret", "soon", b"{}", sign("s3cret", "soon", b"{}"), now=1767225600)
    False
    """
    if not timestamp.isascii() or not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
