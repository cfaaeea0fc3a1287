"""What every provider webhook does after authenticating and parsing."""

from __future__ import annotations

import logging

from bot.service import ConversationService
from channels.base import InboundMessage
from storage.inbound import InboundLedger

logger = logging.getLogger(__name__)


async def handle_once(
    message: InboundMessage, service: ConversationService, ledger: InboundLedger
) -> None:
    """Hand the message to the service unless this delivery id was handled before.

    Providers redeliver when an answer is slow or lost; a person must not get the same
    reply twice, nor have one message move their conversation two steps. A message whose
    turn failed (the database refused it, say) is unrecorded again: the provider's
    redelivery must get through, or the person's message is lost.
    """
    assert message.external_id is not None  # noqa: S101 -- every provider parser sets it
    if not await ledger.first_time(message.channel, message.external_id):
        logger.info("%s: a redelivered message was ignored", message.channel)
        return
    try:
        await service.handle(message)
    except BaseException:  # a turn's messages and replies are stored together: none were
        await ledger.forget(message.channel, message.external_id)
        raise
