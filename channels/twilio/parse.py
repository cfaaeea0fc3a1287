"""Parse Twilio's messaging webhook (form-encoded) into an InboundMessage. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from bot.engine import InboundKind
from channels.base import InboundMessage, InvalidInbound

WHATSAPP_PREFIX = "whatsapp:"
MAX_BODY = 1600  # Twilio's own limit for a message body


def channel_of(sender: str) -> str:
    """``whatsapp:+1…`` senders are the WhatsApp channel; everything else is SMS."""
    return "whatsapp" if sender.startswith(WHATSAPP_PREFIX) else "sms"


def parse_webhook(form: Mapping[str, str]) -> InboundMessage | None:
    """The person's message, or None for deliveries that are not one (status callbacks).

    WhatsApp quick-reply buttons arrive with ``ButtonPayload`` (our option value); SMS has
    only the typed ``Body``.
    """
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = form.get("From", "")
    if not sid or not sender or "Body" not in form:
        return None
    payload = form.get("ButtonPayload")
    if payload:
        return InboundMessage(channel_of(sender), sender, InboundKind.CHOICE, payload, sid, sid)
    body = form["Body"]
    if len(body) > MAX_BODY:
        raise InvalidInbound(f"message body longer than {MAX_BODY} characters")
    # The SID is also the provider's message id: Twilio keeps the message until we ask it
    # to delete it when the conversation is wiped.
    return InboundMessage(channel_of(sender), sender, InboundKind.TEXT, body, sid, sid)
