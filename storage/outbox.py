"""The outbox: provider deliveries, claimed in order, retried, never sent twice.

A row is ``pending`` until the worker claims it (``sending``), then ``sent`` or ``failed``,
or ``pending`` again with a later ``next_attempt_at``. A row still ``sending`` when the
process starts again was in flight when it died: the provider may or may not have it, so
it becomes ``unconfirmed`` and is not sent again (a duplicate message can be read by the
wrong person just as easily as the first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, aliased

from crypto import KeyRing
from crypto.cipher import field_aad
from storage.conversations import ConversationKeyDestroyed, conversation_cipher
from storage.engine import SessionFactory, engine_of, write_transaction
from storage.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNCONFIRMED,
    Conversation,
    OutboxItem,
    ProviderDeletion,
    new_id,
    utcnow,
)

# How long rows handed to one worker stay out of the others' reach (see OutboxStore.due).
LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row, decrypted for the channel."""

    id: str
    conversation_id: str
    channel: str
    address: str
    payload: str  # the queued message (JSON), decrypted
    attempts: int


class OutboxStore:
    """Claims, and records the fate of, outbox rows."""

    def __init__(
        self, sessions: SessionFactory, keyring: KeyRing, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        # A reply's writes wait in line with the turns' (see storage.engine.write_transaction).
        self._engine = engine_of(sessions)
        self._keyring = keyring
        self._clock = clock

    async def due(self, limit: int = 50) -> list[Delivery]:
        """Rows due now, per conversation only the oldest; not yet marked as in flight.

        A later message of a conversation waits while an earlier one is pending or in
        flight, so a person never receives step 3 before step 2. Call
        :meth:`start_sending` just before handing each one to its provider: only that row
        is then in flight, so a crash leaves at most one delivery unconfirmed, never the
        whole batch.
        """
        now = self._clock()
        earlier = aliased(OutboxItem)
        blocked = (
            select(earlier.id)
            .where(
                earlier.conversation_id == OutboxItem.conversation_id,
                earlier.seq < OutboxItem.seq,
                earlier.status.in_((PENDING, SENDING)),
            )
            .exists()
        )
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(OutboxItem)
                    .where(
                        OutboxItem.status == PENDING,
                        OutboxItem.next_attempt_at <= now,
                        ~blocked,
                    )
                    .order_by(OutboxItem.created_at, OutboxItem.seq)
                    .limit(limit)
                    # PostgreSQL: rows another worker is taking are skipped, not waited for
                    # (SQLite has one writer at a time and ignores this).
                    .with_for_update(skip_locked=True, of=OutboxItem)
                )
            )
            for row in rows:
                # Leased, not yet in flight: no other worker takes them for a while, yet a
                # crash before sending leaves them pending, to go out once the lease ends.
                row.next_attempt_at = now + LEASE
            deliveries = []
            for row in rows:
                conversation = await session.get(Conversation, row.conversation_id)
                try:
                    cipher = await conversation_cipher(session, self._keyring, row.conversation_id)
                except ConversationKeyDestroyed:
                    continue  # shredded: the row is unreadable and will be deleted with it
                if conversation is None or conversation.reply_address is None:
                    continue
                deliveries.append(
                    Delivery(
                        id=row.id,
                        conversation_id=row.conversation_id,
                        channel=row.channel,
                        address=cipher.open_text(
                            conversation.reply_address,
                            field_aad("conversations", "reply_address", conversation.id),
                        ),
                        payload=cipher.open_text(row.body, field_aad("outbox", "body", row.id)),
                        attempts=row.attempts + 1,
                    )
                )
            return deliveries

    async def start_sending(self, item_id: str) -> bool:
        """Mark one row in flight, right before the provider call; False if taken meanwhile.

        Conditional on the row still being pending, so two workers never send one row.
        """
        async with write_transaction(self._engine) as connection:
            result = await connection.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == PENDING)
                .values(status=SENDING, attempts=OutboxItem.attempts + 1)
            )
            return bool(getattr(result, "rowcount", 0))

    async def postpone(self, item_id: str, at: datetime, reason: str) -> None:
        """Not to be sent yet (outside the person's safe-contact window): look again at ``at``."""
        async with write_transaction(self._engine) as connection:
            await connection.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == PENDING)
                .values(next_attempt_at=at, error=reason)
            )

    async def mark_sent(self, item_id: str, provider_id: str | None) -> None:
        """The provider accepted the message."""
        await self._set(item_id, status=SENT, provider_id=provider_id, error=None)

    async def retry_later(self, item_id: str, at: datetime, error: str) -> None:
        """A passing failure: try again at ``at``."""
        await self._set(item_id, status=PENDING, next_attempt_at=at, error=error)

    async def mark_failed(self, item_id: str, error: str) -> None:
        """A permanent failure: give up on this row."""
        await self._set(item_id, status=FAILED, error=error)

    async def recover_after_crash(self) -> int:
        """Rows left ``sending`` by a dead process become ``unconfirmed``; returns how many.

        Rows the dead process had leased (see :meth:`due`) are due again at once rather
        than when the lease would have ended. Anything else due within a lease comes forward
        too, which is harmless: the worker checks rate limits and the safe-contact window
        again before each send.
        """
        now = self._clock()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OutboxItem).where(OutboxItem.status == SENDING).values(status=UNCONFIRMED)
            )
            await session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.status == PENDING,
                    OutboxItem.next_attempt_at > now,
                    OutboxItem.next_attempt_at <= now + LEASE,
                )
                .values(next_attempt_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self) -> dict[str, int]:
        """How many rows are in each status (for health, metrics and tests)."""
        return await _counts_by_status(self._sessions, OutboxItem.status)

    async def _set(self, item_id: str, **values: object) -> None:
        async with write_transaction(self._engine) as connection:
            await connection.execute(
                update(OutboxItem)
                .where(and_(OutboxItem.id == item_id, OutboxItem.status == SENDING))
                .values(**values)
            )


@dataclass(frozen=True, slots=True)
class DeletionJob:
    """A claimed request to delete a provider's copy of one message."""

    id: str
    channel: str
    provider_id: str
    attempts: int


class DeletionQueue:
    """Durable requests for providers to delete their copies of wiped messages."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def request(self, channel: str, provider_ids: list[str]) -> None:
        """Queue deletions (called as a conversation is wiped)."""
        now = self._clock()
        async with self._sessions.begin() as session:
            session.add_all(
                ProviderDeletion(
                    id=new_id(),
                    channel=channel,
                    provider_id=provider_id,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                )
                for provider_id in provider_ids
            )

    async def claim_due(self, limit: int = 50) -> list[DeletionJob]:
        """Due pending jobs, marked as being worked on."""
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(ProviderDeletion)
                    .where(
                        ProviderDeletion.status == PENDING,
                        ProviderDeletion.next_attempt_at <= self._clock(),
                    )
                    .limit(limit)
                )
            )
            for row in rows:
                row.status = SENDING
                row.attempts += 1
            return [DeletionJob(r.id, r.channel, r.provider_id, r.attempts) for r in rows]

    async def resume_after_crash(self) -> int:
        """Jobs a dead process was working on are tried again: deleting twice is harmless."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ProviderDeletion)
                .where(ProviderDeletion.status == SENDING)
                .values(status=PENDING)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def done(self, job_id: str) -> None:
        """The provider deleted it (or never had it): forget the job, and the id with it."""
        async with self._sessions.begin() as session:
            row = await session.get(ProviderDeletion, job_id)
            if row is not None:
                await session.delete(row)

    async def retry_later(self, job_id: str, at: datetime) -> None:
        """Not possible yet (Twilio refuses to delete a message still in flight)."""
        await self._set(job_id, status=PENDING, next_attempt_at=at)

    async def give_up(self, job_id: str) -> None:
        """Stop trying; kept as failed so an operator can see it."""
        await self._set(job_id, status=FAILED)

    async def counts(self) -> dict[str, int]:
        """Jobs per status."""
        return await _counts_by_status(self._sessions, ProviderDeletion.status)

    async def _set(self, job_id: str, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProviderDeletion).where(ProviderDeletion.id == job_id).values(**values)
            )


async def _counts_by_status(
    sessions: SessionFactory, status: InstrumentedAttribute[str]
) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(status, func.count()).group_by(status))
        return {value: int(count) for value, count in rows.all()}
