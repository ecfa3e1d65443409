"""Schema migrations: numbered steps, applied in order, each once, each in a transaction.

A step is a function of a synchronous connection (run through ``run_sync``), so it can use
SQLAlchemy DDL that works on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, MetaData, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateColumn

from ivr.store import schema

log = logging.getLogger("ivr.store")

Step = Callable[[Connection], None]


class StoreUnavailable(Exception):
    pass


def _v1_call_log(connection: Connection) -> None:
    Table(schema.calls.name, MetaData(), *schema.call_log_columns()).create(connection)


def _v2_call_flow(connection: Connection) -> None:
    for column in schema.call_flow_columns():
        ddl = CreateColumn(column).compile(dialect=connection.dialect)
        connection.execute(text(f"ALTER TABLE {schema.calls.name} ADD COLUMN {ddl}"))


def _v3_agents(connection: Connection) -> None:
    schema.agents.create(connection)


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "call log", _v1_call_log),
    (2, "call flow facts: nodes, customer, CRM, destination, hang-up", _v2_call_flow),
    (3, "agents' states", _v3_agents),
]


async def upgrade(engine: AsyncEngine) -> int:
    """Apply the pending steps; returns the schema version now in force."""
    try:
        return await _upgrade(engine)
    except (SQLAlchemyError, OSError) as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise StoreUnavailable(f"database {shown}: {type(exc).__name__}: {exc}") from exc


async def _upgrade(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        await connection.run_sync(schema.schema_version.create, checkfirst=True)
        found = (await connection.execute(select(func.max(schema.schema_version.c.version)))).scalar()
    current = int(found or 0)
    for version, name, step in MIGRATIONS:
        if version <= current:
            continue
        async with engine.begin() as connection:
            await connection.run_sync(step)
            await connection.execute(insert(schema.schema_version).values(
                version=version, applied_at=datetime.now(UTC)))
        log.info("database: migrated to version %d (%s)", version, name)
        current = version
    return current
