"""Parse Telegram webhook updates into InboundMessages. Pure: no bot, no network.

Only private chats are served: in a group, other members would see everything. ``/start``
(what Telegram sends when someone opens the bot) starts the conversation; a pressed inline
button arrives as a callback query whose data is our option value.
"""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot.engine import InboundKind
from channels.base import InboundMessage, InvalidInbound

MAX_TEXT = 4096  # Telegram's own limit for a message


def parse_update(payload: Any) -> InboundMessage | None:
    """The person's message, or None for updates that are not one (edits, groups, joins)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        raise InvalidInbound("not a Telegram update")
    try:
        update = Update.de_json(payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInbound(f"malformed update ({type(exc).__name__})") from None
    update_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is None or message.chat.type != "private" or not query.data:
            return None
        return InboundMessage(
            "telegram", str(message.chat.id), InboundKind.CHOICE, query.data, update_id
        )
    message = update.message
    if message is None or message.chat.type != "private" or message.text is None:
        return None
    text = message.text
    if len(text) > MAX_TEXT:
        raise InvalidInbound(f"message longer than {MAX_TEXT} characters")
    chat, message_id = str(message.chat.id), str(message.message_id)
    if text.split("@")[0].strip() == "/start":
        return InboundMessage("telegram", chat, InboundKind.START, "", update_id, message_id)
    return InboundMessage("telegram", chat, InboundKind.TEXT, text, update_id, message_id)


def callback_query_id(payload: Any) -> str | None:
    """The id Telegram needs answered so the pressed button stops spinning."""
    if isinstance(payload, dict) and isinstance(payload.get("callback_query"), dict):
        query_id = payload["callback_query"].get("id")
        return str(query_id) if query_id is not None else None
    return None
