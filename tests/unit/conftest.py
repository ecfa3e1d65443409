"""Fixtures shared by the unit tests: each database the store supports, empty."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.settings import load_settings
from ivr.store.engine import database_url, open_engine

POSTGRES = "postgresql://127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        settings = load_settings(None, {"IVR_STATE_DIR": str(tmp_path)})
        created = open_engine(database_url(settings))
        yield created
        await created.dispose()
        return
    name = f"ivr_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES.replace("postgresql", "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    settings = load_settings(None, {"IVR_DATABASE__URL": f"postgresql://127.0.0.1:5432/{name}"})
    created = open_engine(database_url(settings))
    try:
        yield created
    finally:
        await created.dispose()
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()
