"""A Porchlight app wired to a fake Telegram Bot API on loopback, and update payloads."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.clock import FakeClock
from tests.conftest import FAST_WORKERS, MakeApp
from tests.factories import make_settings
from tests.fakes.telegram import TOKEN, FakeTelegram

SECRET = "webhook-secret_0123456789"
CHAT = 5550104419
PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "telegram"


@dataclass
class TelegramRig:
    client: TestClient[Any, Any]
    app: web.Application
    fake: FakeTelegram
    clock: FakeClock
    next_update: int = 1

    def update(self, name: str, **text: str) -> dict[str, Any]:
        payload = copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))
        payload["update_id"] = self.next_update
        self.next_update += 1
        if text:
            payload["message"]["text"] = text["text"]
        return payload

    async def post(self, payload: dict[str, Any], secret: str | None = SECRET) -> Any:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        return await self.client.post("/channels/telegram", json=payload, headers=headers)

    def sent_texts(self) -> list[str]:
        return [str(params["text"]) for params in self.fake.sent()]


@pytest.fixture
async def rig(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    make_app: MakeApp,
) -> TelegramRig:
    fake = FakeTelegram()
    server = await aiohttp_server(fake.app())
    settings = make_settings(
        tmp_path / "data",
        telegram_token=TOKEN,
        telegram_secret_token=SECRET,
        telegram_api_base=str(server.make_url("")).rstrip("/"),
    )
    clock = FakeClock()
    app = make_app(settings, clock=clock, **FAST_WORKERS)
    return TelegramRig(await aiohttp_client(app), app, fake, clock)
