"""The outbox worker: delivers queued messages through their providers, politely.

Retries with exponential backoff on passing failures (5xx, timeouts, 429 with the wait the
provider asked for), gives up on permanent ones (other 4xx), and treats "this person cannot
be reached" (Twilio 21610 after STOP, a Telegram block) as the person leaving: the
conversation is wiped and nothing more is queued for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bot.safe_window import next_safe_moment
from channels.base import Channel, DeliveryError, OutboundMessage, RecipientGone
from storage.conversations import ConversationStore
from storage.models import utcnow
from storage.outbox import DeletionQueue, Delivery, OutboxStore

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Twilio refuses to delete a message until its delivery is final, which can take hours for a
# phone that is off: keep asking (every 10 minutes at most) for about a day.
MAX_DELETION_ATTEMPTS = 150
MAX_BACKOFF_SECONDS = 600.0
# Providers' documented limits: Telegram ~30 messages/s overall and ~1/s per chat; a Twilio
# long-code number ~1 message/s. Staying under them avoids 429s and carrier filtering.
RATE_LIMITS: dict[str, tuple[float, float]] = {  # channel: (overall gap s, per-recipient gap s)
    "telegram": (1 / 30, 1.0),
    "sms": (1.0, 1.0),
    "whatsapp": (1 / 20, 1.0),
}


class RateLimiter:
    """Spaces deliveries per channel and per recipient; waits on the real monotonic clock."""

    def __init__(
        self,
        limits: Mapping[str, tuple[float, float]] = RATE_LIMITS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = limits
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_free: dict[str, float] = {}

    async def wait_turn(self, channel: str, address: str) -> None:
        """Sleep until both the channel and this recipient may receive again."""
        overall, per_recipient = self._limits.get(channel, (0.0, 0.0))
        keys = (channel, f"{channel}\x00{address}")
        now = self._monotonic()
        start = max([now, *(self._next_free.get(k, now) for k in keys)])
        if start > now:
            await self._sleep(start - now)
        self._next_free[keys[0]] = start + overall
        self._next_free[keys[1]] = start + per_recipient


def backoff(attempts: int) -> float:
    """Seconds to wait after the n-th failed attempt: 2, 4, 8, … capped at 10 minutes."""
    return float(min(2**attempts, MAX_BACKOFF_SECONDS))


class OutboxWorker:
    """Claims due rows and hands them to their channel."""

    def __init__(
        self,
        outbox: OutboxStore,
        conversations: ConversationStore,
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = utcnow,
        limiter: RateLimiter | None = None,
        deletions: DeletionQueue | None = None,
        timezone: str = "UTC",
        forget: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        # Wipes everything of a person who blocked the bot or opted out at the carrier.
        self._forget = forget
        self._outbox = outbox
        self._timezone = timezone  # the zone safe-contact windows are given in
        self._deletions = deletions
        self._limiter = limiter or RateLimiter()
        self._conversations = conversations
        self._channels = channels
        self._clock = clock

    async def deliver_due(self) -> int:
        """Deliver everything due now, oldest first and in order per conversation."""
        delivered = 0
        while batch := await self._outbox.due():
            for delivery in batch:
                if await self._deliver(delivery):
                    delivered += 1
        return delivered

    async def delete_due(self) -> int:
        """Ask providers to delete their copies of wiped messages; retry what is refused.

        Returns how many copies were deleted. One round asks about one job's worth of ids
        (``IDS_PER_DELETION_JOB``), so deliveries never wait long behind a purge's thousands.
        """
        if self._deletions is None:
            return 0
        done = 0
        for job in await self._deletions.claim_due():
            channel = self._channels.get(job.channel)
            if channel is None or not channel.keeps_provider_copies:
                await self._deletions.give_up(job.id)
                continue
            retry: list[str] = []
            failed: list[str] = []
            last_attempt = job.attempts >= MAX_DELETION_ATTEMPTS
            for provider_id in job.provider_ids:
                try:
                    await channel.delete_provider_copy(provider_id)
                except DeliveryError as exc:
                    if exc.permanent or last_attempt:
                        logger.warning(
                            "outbox: a %s copy could not be deleted: %s", job.channel, exc
                        )
                        failed.append(provider_id)
                    else:
                        retry.append(provider_id)
                except Exception as exc:
                    # Unlike a send, a deletion may be repeated (a copy already gone is
                    # "done"), so an unexpected failure is retried like a refusal, not left
                    # in "sending" with the rest of its job until this instance leads again.
                    logger.warning(
                        "outbox: asking %s to delete a copy failed (%s)",
                        job.channel,
                        type(exc).__name__,
                    )
                    (failed if last_attempt else retry).append(provider_id)
                else:
                    done += 1
            wait = timedelta(seconds=backoff(job.attempts))
            await self._deletions.settle(
                job, retry=retry, retry_at=self._clock() + wait, failed=failed
            )
        return done

    async def run(self, interval: float, leads: Callable[[], bool] = lambda: True) -> None:
        """Deliver forever, checking every ``interval`` seconds, while this instance leads.

        Recovery after a crash runs each time this instance becomes the leader (see
        storage/leader.py): only then can no other instance be sending.
        """
        recovered = False
        while True:
            if not leads():
                recovered = False
                await asyncio.sleep(interval)
                continue
            try:
                if not recovered:
                    await self._recover()
                    recovered = True
                await self.deliver_due()
                await self.delete_due()
            except Exception:  # the worker must outlive a database hiccup
                logger.exception("outbox: delivery round failed")
            await asyncio.sleep(interval)

    async def _recover(self) -> None:
        recovered = await self._outbox.recover_after_crash()
        if recovered:
            logger.warning("outbox: %d deliveries were in flight at a crash: not resent", recovered)
        if self._deletions is not None:
            await self._deletions.resume_after_crash()

    async def _held_for_safe_window(self, delivery: Delivery) -> bool:
        """Keep an advocate's message until the person's safe-contact window opens."""
        try:
            conversation = await self._conversations.get(delivery.conversation_id)
        except LookupError:
            if await self._outbox.start_sending(delivery.id):
                await self._outbox.mark_failed(delivery.id, "the conversation is gone")
            return True
        results = dict(conversation.flow_state.get("results") or {})
        opening = next_safe_moment(results, self._clock(), self._timezone)
        if opening is None:
            return False
        logger.info("outbox: a message waits for the person's safe-contact window")
        await self._outbox.postpone(delivery.id, opening, "outside the safe-contact window")
        return True

    async def _deliver(self, delivery: Delivery) -> bool:
        """Hand one row to its provider; False if it was not attempted."""
        channel = self._channels.get(delivery.channel)
        if channel is None:
            if await self._outbox.start_sending(delivery.id):
                await self._outbox.mark_failed(delivery.id, f"no channel {delivery.channel!r}")
            return False
        message = OutboundMessage.from_json(delivery.payload)
        if message.safe_window_only and await self._held_for_safe_window(delivery):
            return False
        await self._limiter.wait_turn(delivery.channel, delivery.address)
        if not await self._outbox.start_sending(delivery.id):
            return False  # wiped, or another worker took it, while we waited our turn
        try:
            provider_id = await channel.send(delivery.address, message)
        except RecipientGone as exc:
            logger.info("outbox: recipient on %s is gone; wiping", delivery.channel)
            await self._outbox.mark_failed(delivery.id, str(exc)[:200])
            if self._forget is not None:  # also ends a handoff: the advocate sees it
                await self._forget(delivery.channel, delivery.address)
            else:
                await self._conversations.wipe(delivery.conversation_id)
        except DeliveryError as exc:
            if exc.permanent or delivery.attempts >= MAX_ATTEMPTS:
                logger.warning("outbox: giving up on a %s delivery: %s", delivery.channel, exc)
                await self._outbox.mark_failed(delivery.id, str(exc)[:200])
                return True
            wait = exc.retry_after if exc.retry_after is not None else backoff(delivery.attempts)
            await self._outbox.retry_later(
                delivery.id, self._clock() + timedelta(seconds=wait), str(exc)[:200]
            )
        else:
            await self._outbox.mark_sent(delivery.id, provider_id)
        return True
