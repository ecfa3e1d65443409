"""The tables, as SQLAlchemy Core metadata. Changes to them go through a migration."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

metadata = MetaData()

schema_version = Table(
    "ivr_schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

calls = Table(
    "ivr_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(128), nullable=False, index=True),
    Column("caller", String(80), nullable=False),
    Column("did", String(80), nullable=False),
    Column("flow", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("digits", String(64), nullable=False),
    Column("outcome", String(200), nullable=False),
)
