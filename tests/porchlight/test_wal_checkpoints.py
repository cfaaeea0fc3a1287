"""No commit copies SQLite's WAL into the database file; the running service does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config import Settings
from porchlight.state import SERVICES
from storage.engine import sqlite_files
from tests.conftest import MakeApp
from tests.waiting import eventually

pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("interval", [0.05, 3600])
async def test_the_service_copies_what_the_wal_holds_into_the_database_in_the_background(
    aiohttp_client: Any, settings: Settings, make_app: MakeApp, interval: float
) -> None:
    client = await aiohttp_client(make_app(settings, checkpoint_interval=interval))
    conversations = client.server.app[SERVICES].conversations
    database = sqlite_files(settings.database_url)[0]
    await asyncio.sleep(0.5)  # the start's own work done (its purge truncates the WAL)
    before = database.stat().st_size

    for number in range(20):
        await conversations.start_conversation(
            channel="webchat", pseudonym=f"{number:064}", reply_address="x", script="default",
            flow_state={"padding": "p" * 4000},
        )  # fmt: skip

    async def grown() -> bool:
        return database.stat().st_size > before + 20 * 4000

    if interval < 1:
        await eventually(grown, True)
    else:  # no checkpoint yet: no commit made one
        await asyncio.sleep(0.5)
        assert not await grown()
