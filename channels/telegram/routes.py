"""Telegram's webhook. Thin: check the secret, parse, hand over, answer at once."""

from __future__ import annotations

import hmac
import logging
from json import JSONDecodeError

from aiohttp import web

from bot.service import ConversationService
from channels.background import BackgroundWork
from channels.base import InvalidInbound
from channels.telegram.channel import TelegramChannel
from channels.telegram.parse import callback_query_id, parse_update
from channels.webhooks import handle_with_retries

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/channels/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- a header name, not a secret
ANSWER_WITHIN_SECONDS = 1.5


async def webhook(
    request: web.Request,
    *,
    secret: str,
    channel: TelegramChannel,
    service: ConversationService,
    background: BackgroundWork,
) -> web.Response:
    """Refuse anything without the secret token (compared in constant time)."""
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise web.HTTPForbidden(text="invalid secret token")
    try:
        payload = await request.json()
        message = parse_update(payload)
    except (JSONDecodeError, InvalidInbound) as exc:
        raise web.HTTPBadRequest(text=f"not a Telegram update: {exc}") from None
    query_id = callback_query_id(payload)
    if query_id is not None:
        background.start(channel.answer_button(query_id))
    if message is not None:
        await background.wait_briefly(handle_with_retries(service, message), ANSWER_WITHIN_SECONDS)
    return web.Response(status=200)
