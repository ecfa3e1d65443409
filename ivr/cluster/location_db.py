"""Kamailio's tables in PostgreSQL (``version`` and ``location``), made from the schema files
Debian's kamailio-postgres-modules ships, so they are the ones this Kamailio expects."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

SCHEMAS = Path("/usr/share/kamailio/postgres")
FILES = ("standard-create.sql", "usrloc-create.sql")


class SchemaMissing(Exception):
    pass


def schema_text(folder: Path = SCHEMAS) -> str:
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise SchemaMissing(f"{folder}: {', '.join(missing)} not found; install the Debian package "
                            "kamailio-postgres-modules (scripts/bootstrap.sh does)")
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in FILES)


async def ensure_tables(url: str, folder: Path = SCHEMAS) -> bool:
    """Creates the tables in one transaction unless ``location`` exists; True if it made them."""
    parsed = make_url(url)
    connection = await asyncpg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
                                       user=parsed.username, password=parsed.password,
                                       database=parsed.database)
    try:
        if await connection.fetchval("SELECT to_regclass('location')") is not None:
            return False
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(5060)")
            if await connection.fetchval("SELECT to_regclass('location')") is not None:
                return False
            await connection.execute(schema_text(folder))
        return True
    finally:
        await connection.close()
