"""The tables, as SQLAlchemy Core metadata. Changes to them go through a migration."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

schema_version = Table(
    "ivr_schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

def call_log_columns() -> list[Column[object]]:
    """The columns of ``ivr_calls`` as migration 1 created them."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("channel_id", String(128), nullable=False, index=True),
        Column("caller", String(80), nullable=False),
        Column("did", String(80), nullable=False),
        Column("flow", String(40), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False, index=True),
        Column("ended_at", DateTime(timezone=True), nullable=False),
        Column("digits", String(64), nullable=False),
        Column("outcome", String(200), nullable=False),
    ]


def call_flow_columns() -> list[Column[object]]:
    """The columns migration 2 added to ``ivr_calls``, fresh each time (a column has one table)."""
    return [
        Column("answered_at", DateTime(timezone=True), nullable=True),
        Column("nodes", Text, nullable=False, server_default=""),
        Column("customer_id", String(64), nullable=False, server_default=""),
        Column("crm_outcome", String(40), nullable=False, server_default=""),
        Column("crm_reason", String(300), nullable=False, server_default=""),
        Column("crm_ms", Integer, nullable=True),
        Column("destination", String(120), nullable=False, server_default=""),
        Column("agent", String(80), nullable=False, server_default=""),
        Column("hangup_cause", String(120), nullable=False, server_default=""),
        Column("variables", Text, nullable=False, server_default="{}"),
        Column("notes", Text, nullable=False, server_default=""),
    ]


def call_record_id_columns() -> list[Column[object]]:
    """Added in version 9: a key of each record, so a record replayed from the spool
    (``ivr.store.record_spool``) is never stored twice. Empty (NULL) in earlier records."""
    return [Column("record_id", String(32), nullable=True)]


calls = Table("ivr_calls", metadata, *call_log_columns(), *call_flow_columns(), *call_record_id_columns(),
              Index("ux_ivr_calls_record_id", "record_id", unique=True))

def agent_columns() -> list[Column[object]]:
    return [
        Column("name", String(40), primary_key=True),
        Column("state", String(20), nullable=False),
        Column("reason", String(80), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ]


def agent_node_columns() -> list[Column[object]]:
    """Added in version 4: which app process wrote the state last."""
    return [Column("node", String(80), nullable=False, server_default="")]


agents = Table("ivr_agents", metadata, *agent_columns(), *agent_node_columns())

agent_claims = Table(
    "ivr_agent_claims", metadata,
    Column("agent", String(40), primary_key=True),
    Column("node", String(80), nullable=True),
    Column("token", String(160), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)

waiting = Table(
    "ivr_waiting", metadata,
    Column("call_id", String(128), primary_key=True),
    Column("node", String(80), nullable=False),
    Column("campaign", String(80), nullable=False, index=True),
    Column("priority", Integer, nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
"""Callers waiting on every app node, so that a node claims an agent only for a caller no other
node's caller is ahead of (ivr.store.claims)."""

calls_open = Table(
    "ivr_calls_open", metadata,
    Column("channel_id", String(128), primary_key=True),
    Column("node", String(80), nullable=False, index=True),
    Column("caller", String(80), nullable=False),
    Column("did", String(80), nullable=False),
    Column("flow", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
"""Calls in progress on each app node, until their record is stored: the record of a call whose
node died is closed by another node (ivr.store.open_calls)."""

spare_calls = Table(
    "ivr_spare_calls", metadata,
    Column("agent", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("count", Integer, nullable=False),
)
"""Overflow calls each spare agent answered on a day (the campaign's ``overflow_timezone``), for
``overflow_daily_limit`` across app nodes and restarts."""

own_agents = Table(
    "ivr_own_agents", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("agent", String(40), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

callbacks = Table(
    "ivr_callbacks", metadata,
    Column("id", String(32), primary_key=True),
    Column("campaign", String(80), nullable=False),
    Column("number", String(20), nullable=False),
    Column("caller_id", String(80), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("variables", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("arrived_at", DateTime(timezone=True), nullable=False),
    Column("message", String(200), nullable=False),
    Column("call_id", String(128), nullable=False),
    Column("via", String(40), nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_delay", Float, nullable=False),
    Column("node", String(80), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("reason", String(300), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_ivr_callbacks_campaign_state", "campaign", "state"),
    Index("ix_ivr_callbacks_number_created_at", "number", "created_at"),
)

pulled_calls = Table(
    "ivr_pulled_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(128), nullable=False),
    Column("node", String(80), nullable=False),
    Column("campaign", String(80), nullable=False),
    Column("caller", String(80), nullable=False),
    Column("name", String(80), nullable=False),
    Column("location", String(80), nullable=False),
    Column("state", String(20), nullable=False),
    Column("taker", String(40), nullable=False),
    Column("action", String(20), nullable=False),
    Column("via", String(20), nullable=False),
    Column("handled", Boolean, nullable=False),
    Column("outcome", String(200), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_ivr_pulled_calls_node_state", "node", "state"),
    Index("ix_ivr_pulled_calls_campaign_state", "campaign", "state"),
)

sms_opt_outs = Table(
    "ivr_sms_opt_outs", metadata,
    Column("number", String(20), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

backend_events = Table(
    "ivr_backend_events", metadata,
    Column("id", String(32), primary_key=True),
    Column("node", String(80), nullable=False),
    Column("call_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("campaign", String(80), nullable=False),
    Column("url", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(300), nullable=False),
    Index("ix_ivr_backend_events_node_delivered_at_next_at", "node", "delivered_at", "next_at"),
    Index("ux_ivr_backend_events_call_id_seq", "call_id", "seq", unique=True),
)

backend_calls = Table(
    "ivr_backend_calls", metadata,
    Column("call_id", String(128), primary_key=True),
    Column("node", String(80), nullable=False),
    Column("node_url", String(200), nullable=False),
    Column("campaign", String(80), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

queue_log = Table(
    "ivr_queue_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("callid", String(128), nullable=False),
    Column("queuename", String(80), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("event", String(32), nullable=False),
    Column("data1", String(200), nullable=False),
    Column("data2", String(200), nullable=False),
    Column("data3", String(200), nullable=False),
    Column("data4", String(200), nullable=False),
    Column("data5", String(200), nullable=False),
    Index("ix_ivr_queue_log_time", "time"),
    Index("ix_ivr_queue_log_queuename_time", "queuename", "time"),
)
"""Asterisk's realtime queue_log table (time, callid, queuename, agent, event, data1-5)."""

agent_history = Table(
    "ivr_agent_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("agent", String(40), nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", String(80), nullable=False),
    Column("node", String(80), nullable=False),
    Index("ix_ivr_agent_history_agent_at", "agent", "at"),
)
"""Every change of an agent's state, with its time and the app node that saw it."""
