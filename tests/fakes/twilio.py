"""A local Twilio Messages API speaking Twilio's wire format, for the real ``twilio`` client.

It checks HTTP Basic auth like Twilio, answers with Twilio's JSON shapes (201 with a message
resource; errors as ``{"code", "message", "more_info", "status"}``), records what was sent,
and can be told to fail the next requests with a given status and error code.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
SENDER = "+15550100000"


@dataclass
class FakeTwilio:
    """The fake's state: what it received and what it should do next."""

    sent: list[dict[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[tuple[int, int]] = field(default_factory=list)  # (HTTP status, error code)
    requests: int = 0
    refuse_deletes: int = 0  # answer this many deletes with 20009 (message not final yet)

    def fail_next(self, status: int, code: int, times: int = 1) -> None:
        """Answer the next ``times`` sends with this error."""
        self.failures.extend([(status, code)] * times)

    def app(self) -> web.Application:
        """The aiohttp application to serve."""
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_post(base + "/Messages.json", self._create)
        app.router.add_delete(base + "/Messages/{sid}.json", self._delete)
        return app

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}" and (
            request.match_info["account"] == ACCOUNT_SID
        )

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        if self.failures:
            status, code = self.failures.pop(0)
            return _error(status, code, "Simulated failure")
        if "To" not in form or "Body" not in form:
            return _error(400, 21604, "A 'To' phone number is required.")
        sid = "SM" + secrets.token_hex(16)
        self.sent.append({**form, "Sid": sid})
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return web.json_response(
            {
                "account_sid": ACCOUNT_SID,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {},
                "to": form["To"],
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
            status=201,
        )

    async def _delete(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        if self.refuse_deletes:
            self.refuse_deletes -= 1
            return _error(400, 20009, "Cannot delete message because it has not yet completed")
        self.deleted.append(request.match_info["sid"])
        return web.Response(status=204)


def _error(status: int, code: int, message: str) -> web.Response:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)
