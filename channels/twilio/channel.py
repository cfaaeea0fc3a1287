"""SMS and WhatsApp through Twilio: the real ``twilio`` library, on its aiohttp transport.

The API base URL comes from settings (TWILIO_API_BASE), so tests point the real client at a
local fake. Replies are plain text: SMS and WhatsApp here have no buttons, so options are
numbered lines and people answer with the number.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.engine import Reply
from bot.sms import sms_text
from channels.base import (
    Channel,
    DeliveryError,
    InboundMessage,
    OutboundMessage,
    RecipientGone,
)
from channels.twilio.parse import WHATSAPP_PREFIX, parse_webhook
from config import Settings

# Twilio error codes that mean "this person cannot be messaged": 21610 is a recipient who
# sent STOP; 63016/63024 are WhatsApp's "outside the window"/"not a WhatsApp user".
GONE_CODES = frozenset({21610, 63016, 63024})


class TwilioMessaging:
    """One Twilio REST client shared by the SMS and WhatsApp channels."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise ValueError("Twilio is not configured")
        self.http = AsyncTwilioHttpClient(timeout=15)
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.reveal(),
            http_client=self.http,
        )
        self.client.api.base_url = settings.twilio_api_base
        self.sender = settings.twilio_from or ""

    async def create(self, to: str, body: str) -> str:
        """Send one message; returns Twilio's message SID."""
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.sender.startswith("MG"):
            kwargs["messaging_service_sid"] = self.sender
        elif to.startswith(WHATSAPP_PREFIX) and not self.sender.startswith(WHATSAPP_PREFIX):
            kwargs["from_"] = WHATSAPP_PREFIX + self.sender
        else:
            kwargs["from_"] = self.sender
        message = await self.client.messages.create_async(**kwargs)
        return str(message.sid)

    async def delete(self, sid: str) -> None:
        """Delete Twilio's stored copy of one message."""
        await self.client.messages(sid).delete_async()

    async def close(self) -> None:
        """Close the HTTP session (at shutdown)."""
        if self.http.session is not None:
            await self.http.session.close()


class TwilioChannel(Channel):
    """What SMS and WhatsApp share: the REST client, plain text, numbered options."""

    supports_buttons: ClassVar[bool] = False
    can_delete_history: ClassVar[bool] = False
    max_text_length: ClassVar[int] = 1600
    keeps_provider_copies: ClassVar[bool] = True

    def __init__(self, messaging: TwilioMessaging) -> None:
        self._messaging = messaging

    def parse_inbound(self, address: str, payload: Any) -> InboundMessage | None:
        """Parse a webhook form (``address`` is unused: the sender is in the form)."""
        return parse_webhook(payload)

    async def send(self, address: str, message: OutboundMessage) -> str:
        """Send through Twilio's Messages API, options as numbered lines."""
        body = sms_text(Reply(message.text, tuple(message.options)))
        try:
            return await self._messaging.create(address, body)
        except TwilioRestException as exc:
            raise _classify(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None

    async def delete_provider_copy(self, provider_id: str) -> None:
        """DELETE /Messages/{Sid}: Twilio refuses until the message is final, so retry."""
        try:
            await self._messaging.delete(provider_id)
        except TwilioRestException as exc:
            if exc.status == 404:
                return  # already gone
            raise DeliveryError(
                f"twilio {exc.status} error {exc.code}", permanent=exc.status in (401, 403)
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", permanent=False) from None


def _classify(exc: TwilioRestException) -> RecipientGone | DeliveryError:
    """Turn Twilio's error into what the outbox should do about it (never the message)."""
    code = exc.code if isinstance(exc.code, int) else None
    reason = f"twilio {exc.status} error {code}"
    if code in GONE_CODES:
        return RecipientGone(reason)
    if exc.status == 429:
        return DeliveryError(reason, permanent=False)
    return DeliveryError(reason, permanent=400 <= exc.status < 500)


class SmsChannel(TwilioChannel):
    """SMS through Twilio."""

    name: ClassVar[str] = "sms"


class WhatsAppChannel(TwilioChannel):
    """WhatsApp through Twilio (senders prefixed ``whatsapp:``)."""

    name: ClassVar[str] = "whatsapp"
