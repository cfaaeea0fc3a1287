"""Telegram through python-telegram-bot's Bot, on a configurable API base (tests: a fake).

Options become inline keyboard buttons (one per row, easy to hit on a phone).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from channels.base import (
    Channel,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    RecipientGone,
)
from channels.telegram.parse import parse_update
from config import Settings

logger = logging.getLogger(__name__)

DELETE_BATCH = 100  # deleteMessages takes at most 100 ids


def make_bot(settings: Settings) -> Bot:
    """A Bot talking to TELEGRAM_API_BASE (Telegram's, or a local fake in tests)."""
    if settings.telegram_token is None:
        raise ValueError("Telegram is not configured")
    return Bot(settings.telegram_token.reveal(), base_url=f"{settings.telegram_api_base}/bot")


class TelegramChannel(Channel):
    """Private chats with the bot."""

    name: ClassVar[str] = "telegram"
    supports_buttons: ClassVar[bool] = True
    can_delete_history: ClassVar[bool] = True
    max_text_length: ClassVar[int] = 4096
    history_window: ClassVar[timedelta] = timedelta(hours=48)  # Telegram's limit for bots

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def parse_inbound(self, address: str, payload: Any) -> InboundMessage | None:
        """Parse an update (``address`` is unused: the chat is in the update)."""
        return parse_update(payload)

    async def send(self, address: str, message: OutboundMessage) -> str:
        """Send, with the options as inline buttons; returns the message id."""
        markup = None
        if message.options:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(o.label, callback_data=o.value[:64])]
                    for o in message.options
                ]
            )
        try:
            sent = await self._bot.send_message(int(address), message.text, reply_markup=markup)
        except Forbidden as exc:
            raise RecipientGone("telegram: the bot was blocked") from exc
        except RetryAfter as exc:
            raise DeliveryError(
                "telegram: flood control", permanent=False, retry_after=_seconds(exc)
            ) from None
        except BadRequest as exc:
            raise DeliveryError("telegram: bad request", permanent=True) from exc
        except (NetworkError, TelegramError) as exc:
            raise DeliveryError(f"telegram: {type(exc).__name__}", permanent=False) from None
        return str(sent.message_id)

    async def erase_history(self, address: str, message_ids: Sequence[str]) -> None:
        """Delete both sides' messages from the chat, 100 at a time (Telegram's limit).

        Best effort: Telegram refuses messages older than 48 hours, and a failure here must
        not undo the wipe that has already happened on our side.
        """
        ids = [int(i) for i in message_ids if i.isdigit()]
        for start in range(0, len(ids), DELETE_BATCH):
            try:
                await self._bot.delete_messages(int(address), ids[start : start + DELETE_BATCH])
            except TelegramError as exc:
                logger.warning("telegram: could not delete chat history (%s)", type(exc).__name__)

    async def answer_button(self, callback_query_id: str) -> None:
        """Stop the pressed button's spinner; best effort, never fatal."""
        with contextlib.suppress(TelegramError):
            await self._bot.answer_callback_query(callback_query_id)


def _seconds(exc: RetryAfter) -> float:
    value = exc.retry_after  # a timedelta with PTB_TIMEDELTA set (see the package init)
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
