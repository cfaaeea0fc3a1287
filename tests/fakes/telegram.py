"""A local Telegram Bot API speaking Telegram's wire format, for python-telegram-bot's Bot.

Answers ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description",
"parameters"?}`` as Telegram does, records calls, and can fail the next sendMessage calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_ID = 123456789


@dataclass
class FakeTelegram:
    """What the fake received, and what it should do next."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent_results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = 1000

    def sent(self) -> list[dict[str, Any]]:
        """The sendMessage calls that succeeded."""
        return [params for method, params in self.calls if method == "sendMessage"]

    def called(self, method: str) -> list[dict[str, Any]]:
        """Every call of one method (successful or not)."""
        return [params for name, params in self.calls if name == method]

    def fail_next(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        """Fail the next sendMessage like Telegram would."""
        body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.failures.append(body)

    def app(self) -> web.Application:
        """The aiohttp application to serve."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._call)
        return app

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _reply({"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = request.match_info["method"]
        params = await _params(request)
        if method == "sendMessage" and self.failures:
            self.calls.append(("sendMessage:failed", params))
            return _reply(self.failures.pop(0))
        self.calls.append((method, params))
        if method == "getMe":
            return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Chat", "username": "chat_bot"})
        if method == "sendMessage":
            self.next_message_id += 1
            chat_id = int(params["chat_id"])
            message = {
                "message_id": self.next_message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Chat"},
                "text": params["text"],
            }
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            self.sent_results.append(message)
            return _ok(message)
        if method in ("answerCallbackQuery", "deleteMessages", "setWebhook", "deleteWebhook"):
            return _ok(True)
        return _reply({"ok": False, "error_code": 404, "description": "Not Found"})


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        text = str(value)
        try:
            params[key] = json.loads(text) if text[:1] in "[{" else text
        except ValueError:
            params[key] = text
    return params


def _ok(result: Any) -> web.Response:
    return _reply({"ok": True, "result": result})


def _reply(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=200 if body["ok"] else int(body["error_code"]))
