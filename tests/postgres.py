"""A PostgreSQL database of a test's own, on the server every tier uses (127.0.0.1:5432, reached
through its `test` database), dropped afterwards even with connections left open."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

SERVER = "postgresql://127.0.0.1:5432"


@contextmanager
def own_database(prefix: str = "ivr_test") -> Iterator[str]:
    """The URL of a new, empty database, named ``<prefix>_<random>``."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    psql = ["psql", "-h", "127.0.0.1", "-d", "test", "-qc"]
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield f"{SERVER}/{name}"
    finally:
        subprocess.run([*psql, f'DROP DATABASE "{name}" WITH (FORCE)'], check=True)
