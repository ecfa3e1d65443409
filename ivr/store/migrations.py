"""Schema migrations: numbered steps, applied in order, each once, each in a transaction.

A step is a function of a synchronous connection (run through ``run_sync``), so it can use
SQLAlchemy DDL that works on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, MetaData, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateColumn

from ivr.store import schema

log = logging.getLogger("ivr.store")

Step = Callable[[Connection], None]
MIGRATION_LOCK = 0x1F0E5C4A
"""The PostgreSQL advisory lock key held while a migration step runs."""


class StoreUnavailable(Exception):
    pass


def _add_columns(connection: Connection, table: str, columns: list[Column[object]]) -> None:
    for column in columns:
        ddl = CreateColumn(column).compile(dialect=connection.dialect)
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))


def _v1_call_log(connection: Connection) -> None:
    Table(schema.calls.name, MetaData(), *schema.call_log_columns()).create(connection)


def _v2_call_flow(connection: Connection) -> None:
    _add_columns(connection, schema.calls.name, schema.call_flow_columns())


def _v3_agents(connection: Connection) -> None:
    Table(schema.agents.name, MetaData(), *schema.agent_columns()).create(connection)


def _v4_nodes(connection: Connection) -> None:
    _add_columns(connection, schema.agents.name, schema.agent_node_columns())
    schema.agent_claims.create(connection)
    schema.own_agents.create(connection)


def _v5_callbacks(connection: Connection) -> None:
    schema.callbacks.create(connection)


def _v6_pulled_calls(connection: Connection) -> None:
    schema.pulled_calls.create(connection)
    schema.sms_opt_outs.create(connection)


def _v7_backend_events(connection: Connection) -> None:
    schema.backend_events.create(connection)


def _v8_backend_calls(connection: Connection) -> None:
    schema.backend_calls.create(connection)


def _v9_call_record_ids(connection: Connection) -> None:
    _add_columns(connection, schema.calls.name, schema.call_record_id_columns())
    connection.execute(text("CREATE UNIQUE INDEX ux_ivr_calls_record_id ON ivr_calls (record_id)"))


def _v10_queue_log(connection: Connection) -> None:
    schema.queue_log.create(connection)
    schema.agent_history.create(connection)


def _v11_waiting(connection: Connection) -> None:
    schema.waiting.create(connection)


def _v12_nodes_share_more(connection: Connection) -> None:
    schema.calls_open.create(connection)
    schema.spare_calls.create(connection)


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "call log", _v1_call_log),
    (2, "call flow facts: nodes, customer, CRM, destination, hang-up", _v2_call_flow),
    (3, "agents' states", _v3_agents),
    (4, "several app nodes: agent claims, who wrote a state; customers' own agents", _v4_nodes),
    (5, "in-queue callbacks", _v5_callbacks),
    (6, "pull campaigns: pulled calls, SMS opt-outs", _v6_pulled_calls),
    (7, "backend-run campaigns: call events to deliver", _v7_backend_events),
    (8, "backend-run campaigns: which node holds each call, its control token", _v8_backend_calls),
    (9, "call records: a key each, so a record replayed from the spool is stored once", _v9_call_record_ids),
    (10, "reports: the queue_log, the agents' state history", _v10_queue_log),
    (11, "one line across app nodes: the callers waiting on each", _v11_waiting),
    (12, "app nodes: calls in progress on each, spares' daily counts", _v12_nodes_share_more),
]


async def upgrade(engine: AsyncEngine) -> int:
    """Apply the pending steps; returns the schema version now in force."""
    try:
        return await _upgrade(engine)
    except (SQLAlchemyError, OSError) as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise StoreUnavailable(f"database {shown}: {type(exc).__name__}: {exc}") from exc


async def _upgrade(engine: AsyncEngine) -> int:
    current = 0
    async with engine.begin() as connection:
        await _one_at_a_time(connection)
        await connection.run_sync(schema.schema_version.create, checkfirst=True)
    for version, name, step in MIGRATIONS:
        async with engine.begin() as connection:
            await _one_at_a_time(connection)
            current = await _version(connection)
            if version <= current:
                continue
            await connection.run_sync(step)
            await connection.execute(insert(schema.schema_version).values(
                version=version, applied_at=datetime.now(UTC)))
        log.info("database: migrated to version %d (%s)", version, name)
        current = version
    return current


async def _version(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(func.max(schema.schema_version.c.version)))).scalar() or 0)


async def _one_at_a_time(connection: AsyncConnection) -> None:
    """App nodes starting together on PostgreSQL migrate one after the other (the lock ends with
    the transaction); SQLite's writers are one at a time anyway."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
