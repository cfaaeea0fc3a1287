"""The outbox: provider deliveries, claimed in order, retried, never sent twice.

A row is ``pending`` until the worker claims it (``sending``), then ``sent`` or ``failed``,
or ``pending`` again with a later ``next_attempt_at``. A row still ``sending`` when the
process starts again was in flight when it died: the provider may or may not have it, so
it becomes ``unconfirmed`` and is not sent again (a duplicate message can be read by the
wrong person just as easily as the first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute, aliased

from crypto import KeyRing
from crypto.cipher import field_aad
from storage.conversations import ConversationKeyDestroyed, unwrapped_cipher
from storage.engine import SessionFactory, engine_of, write_transaction
from storage.ids import new_id, new_ids
from storage.many_rows import ManyRows
from storage.models import (
    DELETION_ID_SEPARATOR,
    FAILED,
    IDS_PER_DELETION_JOB,
    PENDING,
    SENDING,
    SENT,
    UNCONFIRMED,
    Conversation,
    ConversationKey,
    OutboxItem,
    ProviderDeletion,
    utcnow,
)

# How long rows handed to one worker stay out of the others' reach (see OutboxStore.due).
LEASE = timedelta(seconds=60)
_INSERT_JOBS = ManyRows(
    insert(ProviderDeletion),
    ("id", "channel", "provider_ids", "status", "attempts", "next_attempt_at"),
)


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
        # One statement for the rows, their conversations' addresses and keys, and a short
        # transaction in the turns' line: an ORM session reading each row's conversation and
        # key in turn held SQLite's write lock for a hundred statements, and people's turns
        # waited behind it (docs/benchmarks.md).
        chosen = (
            select(
                OutboxItem.id,
                OutboxItem.conversation_id,
                OutboxItem.channel,
                OutboxItem.body,
                OutboxItem.attempts,
                Conversation.reply_address,
                ConversationKey.wrapped_key,
            )
            .join(Conversation, Conversation.id == OutboxItem.conversation_id)
            .outerjoin(ConversationKey, ConversationKey.conversation_id == Conversation.id)
            .where(OutboxItem.status == PENDING, OutboxItem.next_attempt_at <= now, ~blocked)
            .order_by(OutboxItem.created_at, OutboxItem.seq)
            .limit(limit)
            # PostgreSQL: rows another worker is taking are skipped, not waited for
            # (SQLite has one writer at a time and ignores this).
            .with_for_update(skip_locked=True, of=OutboxItem)
        )
        async with write_transaction(self._engine) as connection:
            rows = (await connection.execute(chosen)).all()
            if rows:
                # Leased, not yet in flight: no other worker takes them for a while, yet a
                # crash before sending leaves them pending, to go out once the lease ends.
                await connection.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_([row.id for row in rows]))
                    .values(next_attempt_at=now + LEASE)
                )
        deliveries = []
        for row in rows:
            if row.reply_address is None:
                continue
            try:
                cipher = unwrapped_cipher(self._keyring, row.conversation_id, row.wrapped_key)
            except ConversationKeyDestroyed:
                continue  # shredded: the row is unreadable and will be deleted with it
            deliveries.append(
                Delivery(
                    id=row.id,
                    conversation_id=row.conversation_id,
                    channel=row.channel,
                    address=cipher.open_text(
                        row.reply_address,
                        field_aad("conversations", "reply_address", row.conversation_id),
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
    """A claimed request to delete a provider's copies of some messages."""

    id: str
    channel: str
    provider_ids: tuple[str, ...]
    attempts: int  # counting this one


class DeletionQueue:
    """Durable requests for providers to delete their copies of wiped messages.

    A job holds up to ``IDS_PER_DELETION_JOB`` ids of one channel. The worker claims jobs,
    asks the provider about each id, then settles the job: ids it could not delete yet stay
    in it for later, ids it must give up on move to a failed job an operator can see.
    """

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def request(self, channel: str, provider_ids: list[str]) -> None:
        """Queue deletions (called as a conversation is wiped).

        Raises ValueError, queueing nothing, for an id that is empty or holds the separator.
        """
        for provider_id in provider_ids:
            if not queueable(provider_id):
                raise ValueError("a provider id must be non-empty and hold no space")
        if not provider_ids:
            return
        async with self._sessions.begin() as session:
            await queue_deletions(await session.connection(), channel, provider_ids, self._clock())

    async def claim_due(self, max_ids: int = IDS_PER_DELETION_JOB) -> list[DeletionJob]:
        """Due pending jobs holding about ``max_ids`` ids in all (at least one job), claimed."""
        async with self._sessions.begin() as session:
            rows = (
                await session.execute(
                    select(
                        ProviderDeletion.id,
                        ProviderDeletion.channel,
                        ProviderDeletion.provider_ids,
                        ProviderDeletion.attempts,
                    )
                    .where(
                        ProviderDeletion.status == PENDING,
                        ProviderDeletion.next_attempt_at <= self._clock(),
                    )
                    .order_by(ProviderDeletion.next_attempt_at)
                    .limit(max_ids)
                )
            ).all()
            jobs: list[DeletionJob] = []
            claimed_ids = 0
            for job_id, channel, joined, attempts in rows:
                provider_ids = tuple(joined.split(DELETION_ID_SEPARATOR))
                if jobs and claimed_ids + len(provider_ids) > max_ids:
                    break
                claimed_ids += len(provider_ids)
                jobs.append(DeletionJob(job_id, channel, provider_ids, attempts + 1))
            if jobs:
                await session.execute(
                    update(ProviderDeletion)
                    .where(ProviderDeletion.id.in_([job.id for job in jobs]))
                    .values(status=SENDING, attempts=ProviderDeletion.attempts + 1)
                )
            return jobs

    async def resume_after_crash(self) -> int:
        """Jobs a dead process was working on are tried again: deleting twice is harmless."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ProviderDeletion)
                .where(ProviderDeletion.status == SENDING)
                .values(status=PENDING)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def settle(
        self,
        job: DeletionJob,
        *,
        retry: Sequence[str] = (),
        retry_at: datetime | None = None,
        failed: Sequence[str] = (),
    ) -> None:
        """The worker is done with ``job`` for now; every other id of it was deleted.

        ``retry`` ids stay queued until ``retry_at``; ``failed`` ids are kept as a failed
        job. A job left with nothing to retry is forgotten, and its ids with it.
        """
        async with self._sessions.begin() as session:
            if retry:
                await session.execute(
                    update(ProviderDeletion)
                    .where(ProviderDeletion.id == job.id)
                    .values(
                        provider_ids=DELETION_ID_SEPARATOR.join(retry),
                        status=PENDING,
                        next_attempt_at=retry_at or self._clock(),
                    )
                )
            else:
                await session.execute(delete(ProviderDeletion).where(ProviderDeletion.id == job.id))
            if failed:
                row = (
                    new_id(), job.channel, DELETION_ID_SEPARATOR.join(failed), FAILED,
                    job.attempts, self._clock(),
                )  # fmt: skip
                await _INSERT_JOBS.execute(await session.connection(), [row])

    async def give_up(self, job_id: str) -> None:
        """Stop trying the whole job; kept as failed so an operator can see it."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProviderDeletion).where(ProviderDeletion.id == job_id).values(status=FAILED)
            )

    async def counts(self) -> dict[str, int]:
        """Jobs per status."""
        return await _counts_by_status(self._sessions, ProviderDeletion.status)


def queueable(provider_id: str) -> bool:
    """Whether a provider id can go into a deletion job (it is split on the separator)."""
    return bool(provider_id) and DELETION_ID_SEPARATOR not in provider_id


async def queue_deletions(
    connection: AsyncConnection, channel: str, provider_ids: Sequence[str], at: datetime
) -> None:
    """Queue deletion jobs for these ids in the caller's transaction (see :func:`queueable`)."""
    chunks = [
        DELETION_ID_SEPARATOR.join(provider_ids[start : start + IDS_PER_DELETION_JOB])
        for start in range(0, len(provider_ids), IDS_PER_DELETION_JOB)
    ]
    await _INSERT_JOBS.execute(
        connection,
        [
            (job_id, channel, chunk, PENDING, 0, at)
            for job_id, chunk in zip(new_ids(len(chunks)), chunks, strict=True)
        ],
    )


async def _counts_by_status(
    sessions: SessionFactory, status: InstrumentedAttribute[str]
) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(status, func.count()).group_by(status))
        return {value: int(count) for value, count in rows.all()}
