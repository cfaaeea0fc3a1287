"""A Porchlight app wired to a fake Twilio on loopback, and helpers to sign webhooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from tests.clock import FakeClock
from tests.conftest import FAST_WORKERS, MakeApp
from tests.factories import make_settings
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio

PUBLIC_URL = "https://chat.example.org"
WEBHOOK = "/channels/twilio"
PERSON = "+15550104417"


@dataclass
class TwilioRig:
    client: TestClient[Any, Any]
    app: web.Application
    fake: FakeTwilio
    clock: FakeClock
    counter: int = 0

    def sign(self, params: dict[str, str], url: str = PUBLIC_URL + WEBHOOK) -> str:
        return str(RequestValidator(AUTH_TOKEN).compute_signature(url, params))

    def inbound(self, body: str, sender: str = PERSON, sid: str | None = None) -> dict[str, str]:
        self.counter += 1
        sid = sid or f"SM{self.counter:032x}"
        return {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": SENDER,
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }

    async def post(self, params: dict[str, str], signature: str | None = None) -> Any:
        headers = {"X-Twilio-Signature": self.sign(params) if signature is None else signature}
        return await self.client.post(WEBHOOK, data=params, headers=headers)

    async def say(self, body: str, sender: str = PERSON) -> None:
        response = await self.post(self.inbound(body, sender))
        assert response.status == 200


@pytest.fixture
async def twilio_rig(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Any,
    make_app: MakeApp,
) -> TwilioRig:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    settings = make_settings(
        tmp_path / "data",
        public_url=PUBLIC_URL,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from=SENDER,
        twilio_api_base=str(server.make_url("")).rstrip("/"),
    )
    clock = FakeClock()
    app = make_app(settings, clock=clock, **FAST_WORKERS)
    client = await aiohttp_client(app)
    return TwilioRig(client, app, fake, clock)


SentBodies = Callable[[], list[str]]
