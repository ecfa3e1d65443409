"""Kamailio's tables in PostgreSQL (``version``, ``location`` and ``subscriber``), made from the
schema files Debian's kamailio-postgres-modules ships, so they are the ones this Kamailio
expects; and the agents' phones' credentials in ``subscriber``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

SCHEMAS = Path("/usr/share/kamailio/postgres")
FILES = ("standard-create.sql", "usrloc-create.sql")
AUTH_FILE = "auth_db-create.sql"


class SchemaMissing(Exception):
    pass


def schema_text(folder: Path = SCHEMAS) -> str:
    return _read(folder, FILES)


def _read(folder: Path, names: tuple[str, ...]) -> str:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise SchemaMissing(f"{folder}: {', '.join(missing)} not found; install the Debian package "
                            "kamailio-postgres-modules (scripts/bootstrap.sh does)")
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in names)


def ha1(username: str, realm: str, password: str) -> str:
    """The digest credential Kamailio checks (RFC 2617 HA1), so no password is stored.

    >>> ha1("agent-ana", "127.0.0.10", "s3cret")
    '7769fa0ad6ca6674904d63a101b906aa'
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


async def ensure_tables(url: str, folder: Path = SCHEMAS) -> bool:
    """Creates the tables each in one transaction unless they exist; True if it made any."""
    made = False
    async with _connected(url) as connection:
        for table, names in (("location", FILES), ("subscriber", (AUTH_FILE,))):
            if await connection.fetchval(f"SELECT to_regclass('{table}')") is not None:
                continue
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(5060)")
                if await connection.fetchval(f"SELECT to_regclass('{table}')") is None:
                    await connection.execute(_read(folder, names))
                    made = True
    return made


async def set_subscribers(url: str, realm: str, credentials: Mapping[str, str]) -> None:
    """The phones allowed to register in ``realm``: exactly ``credentials`` (username: HA1)."""
    async with _connected(url) as connection, connection.transaction():
        await connection.execute("DELETE FROM subscriber WHERE domain = $1 "
                                 "AND NOT (username = ANY($2::text[]))", realm, sorted(credentials))
        await connection.executemany(
            "INSERT INTO subscriber (username, domain, ha1) VALUES ($1, $2, $3) "
            "ON CONFLICT (username, domain) DO UPDATE SET ha1 = EXCLUDED.ha1",
            [(username, realm, credential) for username, credential in sorted(credentials.items())])


@asynccontextmanager
async def _connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    parsed = make_url(url)
    connection = await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                       user=parsed.username, password=parsed.password,
                                       database=parsed.database)
    try:
        yield connection
    finally:
        await connection.close()
