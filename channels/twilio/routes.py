"""Twilio's messaging webhook. Thin: authenticate, parse, hand over, answer at once."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.service import ConversationService
from channels.background import BackgroundWork
from channels.base import InvalidInbound
from channels.twilio.parse import parse_webhook
from channels.webhooks import handle_with_retries

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/channels/twilio"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio waits 15 s; answer well before, whatever the database is doing. The turn goes on
# in the background and its replies leave through the outbox.
ANSWER_WITHIN_SECONDS = 1.5


async def webhook(
    request: web.Request,
    *,
    validator: RequestValidator,
    public_url: str,
    service: ConversationService,
    background: BackgroundWork,
) -> web.Response:
    """Check the signature against PUBLIC_URL, then process once per MessageSid."""
    # Every value of every field, repeated ones too: Twilio signs them all.
    form = MultiDict((key, str(value)) for key, value in (await request.post()).items())
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signed_by_twilio(validator, public_url + request.path_qs, form, signature):
        raise web.HTTPForbidden(text="invalid signature")
    try:
        message = parse_webhook(form)
    except InvalidInbound as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    if message is not None:
        await background.wait_briefly(handle_with_retries(service, message), ANSWER_WITHIN_SECONDS)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def signed_by_twilio(
    validator: RequestValidator, url: str, form: Mapping[str, str], signature: str
) -> bool:
    """Twilio's own check, its commonest case first: one HMAC of the URL as configured.

    ``RequestValidator.validate`` always computes two signatures, for the URL with its
    port and without; only when the first guess fails is it asked (a tenth of a message's
    CPU went to signatures, docs/benchmarks.md).
    """
    expected = validator.compute_signature(url, form)
    if hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    return bool(validator.validate(url, form, signature))
