"""Provider webhooks: a turn refused by a passing database failure is tried again.

A provider is answered within a second or two and may never redeliver (Twilio does not, by
default, after an error), so a turn refused by a passing database failure (SQLite's lock
held too long, a PostgreSQL connection dropped) is tried again here. A turn and the record
of its delivery are stored in one transaction, so a failed attempt stored no message, and
an attempt that did store makes the next one a recognised redelivery. What a turn does
before storing, in transactions of its own (queueing for an advocate, filing a report), can
happen twice; a person's message lost is worse.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.service import ConversationService, TurnOutcome
from channels.base import InboundMessage

logger = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_WAIT_SECONDS = 0.5  # then 1 s: a lock or a reconnection has time to clear


async def handle_with_retries(service: ConversationService, message: InboundMessage) -> TurnOutcome:
    """Hand the message to the service; on a passing database failure, try again."""
    for attempt in range(1, ATTEMPTS):
        try:
            return await service.handle(message)
        except DBAPIError as exc:
            if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                raise
            # The exception's kind only: its text could quote the statement's values.
            logger.warning(
                "%s: a turn failed (%s); trying again", message.channel, type(exc).__name__
            )
            await asyncio.sleep(FIRST_WAIT_SECONDS * attempt)
    return await service.handle(message)  # the last attempt: its failure is the caller's
