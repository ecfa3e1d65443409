"""Fixtures shared by the unit tests: each database the store supports, empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.settings import load_settings
from ivr.store.engine import database_url, open_engine
from tests.postgres import own_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        settings = load_settings(None, {"IVR_STATE_DIR": str(tmp_path)})
        created = open_engine(database_url(settings))
        yield created
        await created.dispose()
        return
    with own_database() as url:
        created = open_engine(database_url(load_settings(None, {"IVR_DATABASE__URL": url})))
        try:
            yield created
        finally:
            await created.dispose()
