"""Passwords the admin sets for the web page (`ivr password NAME`), kept as scrypt hashes in the
state folder beside the API tokens: ``<state_dir>/api/agent-<id>-password`` and
``supervisor-password``. An agent signs in with its password or its API token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

SUPERVISOR = "*"
MIN_LENGTH = 10
N, R, P = 2**14, 8, 1


class WeakPassword(ValueError):
    pass


def password_file(folder: Path, who: str) -> Path:
    return folder / ("supervisor-password" if who == SUPERVISOR else f"agent-{who}-password")


def hashed(password: str) -> str:
    """
    >>> stored = hashed("correct horse battery")
    >>> matches(stored, "correct horse battery"), matches(stored, "wrong horse battery")
    (True, False)
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def matches(stored: str, given: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.strip().split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(given.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def store(folder: Path, who: str, password: str) -> Path:
    """Write (or replace) the password's hash, readable by its owner only."""
    path = password_file(folder, who)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(hashed(password) + "\n")
    temporary.replace(path)
    return path


def check(folder: Path, who: str, given: str) -> bool:
    """Whether ``given`` is ``who``'s password (False when none is set)."""
    try:
        stored = password_file(folder, who).read_text(encoding="utf-8")
    except OSError:
        return False
    return matches(stored, given)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
