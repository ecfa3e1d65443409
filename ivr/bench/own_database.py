"""A PostgreSQL database of a benchmark's own, made empty on the server it is given and dropped
afterwards, even with connections left open: a run never touches the data of a deployment."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_SERVER = "postgresql://127.0.0.1:5432/postgres"
"""Where the database is made: the server's maintenance database (trust authentication or a
password in the URL)."""


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the same server, with the asyncio driver ivr uses.

    >>> database_url("postgresql://bench:pw@db.example:5433/postgres", "ivr_bench_1")
    'postgresql+asyncpg://bench:pw@db.example:5433/ivr_bench_1'
    """
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                 user=parsed.username, password=parsed.password, database=parsed.database)


@asynccontextmanager
async def own_database(server: str = DEFAULT_SERVER, prefix: str = "ivr_bench") -> AsyncIterator[str]:
    """The asyncpg URL of a new, empty database named ``<prefix>_<random>``."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url(server, name)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def server_settings(server: str) -> dict[str, str]:
    """What decides a commit's cost: whether it waits for the disk, and the server's version."""
    connection = await connect(server)
    try:
        return {name: await connection.fetchval(f"SHOW {name}")
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers",
                             "max_connections", "wal_level")}
    finally:
        await connection.close()


async def backend_pids(server: str, database: str) -> list[int]:
    """The server processes serving connections to ``database``."""
    connection = await connect(server)
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        return [row["pid"] for row in rows]
    finally:
        await connection.close()
