"""Opening the configured database with an asyncio driver."""

from __future__ import annotations

from pathlib import Path

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
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return create_async_engine(url, pool_pre_ping=True)

