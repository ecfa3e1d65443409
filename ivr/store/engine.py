"""Opening the configured database with an asyncio driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ivr.settings import Settings

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def database_url(settings: Settings) -> str:
    """The configured URL with its asyncio driver; SQLite in the state folder by default.

    A plain ``postgresql://`` or ``sqlite://`` URL gets the driver ivr uses for it.
    """
    if not settings.database.url:
        return f"sqlite+aiosqlite:///{settings.state_path / 'ivr.sqlite3'}"
    url = make_url(settings.database.url)
    if url.drivername in ASYNC_DRIVERS:
        url = url.set(drivername=ASYNC_DRIVERS[url.drivername])
    return url.render_as_string(hide_password=False)


def open_engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    path = make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_pre_ping=True)
    event.listen(engine.sync_engine, "connect", _write_ahead)
    return engine


def _write_ahead(connection: Any, _record: Any) -> None:
    """SQLite in write-ahead mode, synced at checkpoints: a commit (an agent's claim, a call
    record) costs half as much, readers never wait for the writer, and other processes on this
    machine share the file as before. A power cut may lose the last commits, not the file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

