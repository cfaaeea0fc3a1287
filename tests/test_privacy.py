"""A conversation's content and the person's address must appear nowhere we can look.

The canaries are searched for in every encoding a careless layer might use: plain, URL
encoded, JSON escaped and base64.
"""

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from config import Settings
from tests.channels.webchat.test_websocket import WS, receive_until_options
from tests.privacy import canaries_in, forms, stored_blobs

pytestmark = pytest.mark.privacy

CANARY_TEXT = "canary-fig-6203 he took my passport"
CANARY_AREA = "Canarytown-North-7781"


def find_canaries(blob: bytes) -> list[str]:
    return canaries_in(blob, (CANARY_TEXT, CANARY_AREA))


async def chat_with_canaries(client: TestClient[Any, Any], *, then_exit: bool) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "message", "text": CANARY_TEXT})  # not understood
        await receive_until_options(socket)
        await socket.send_json({"type": "choice", "value": "safe"})
        await receive_until_options(socket)
        await socket.send_json({"type": "choice", "value": "support"})
        await socket.receive_json(timeout=5)
        await socket.send_json({"type": "message", "text": CANARY_AREA})
        await receive_until_options(socket)
        if then_exit:
            await socket.send_json({"type": "exit"})
            await socket.receive(timeout=5)


@pytest.mark.parametrize("then_exit", [False, True], ids=["left-open", "quick-exit"])
async def test_canaries_appear_nowhere_on_disk_or_in_logs(
    client: TestClient[Any, Any],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    then_exit: bool,
) -> None:
    caplog.set_level(logging.DEBUG)

    await chat_with_canaries(client, then_exit=then_exit)
    await client.close()  # flush and close the database

    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    for where, blob in await stored_blobs(settings.database_url, files):
        assert find_canaries(blob) == [], where
    assert caplog.records, "the test must actually capture logs"
    assert find_canaries(caplog.text.encode()) == []


def test_the_canary_search_finds_each_encoding(tmp_path: Path) -> None:
    """Guard the guard: the search above must be able to fail."""
    for form in forms(CANARY_TEXT):
        assert find_canaries(b"prefix " + form + b" suffix")
