"""Retention: what nobody has touched for ``RETENTION_DAYS`` is deleted, keys first.

Conversations (with their messages, outbox rows and advocates' notes) go once their last
activity is older than the cutoff; reports once nobody added to them for as long; the
inbound de-duplication ledger (keyed hashes of provider ids) too. Each batch deletes the
data keys and the rows in one transaction, so a conversation is either whole or gone, never
readable in part. Afterwards SQLite's freed pages are zeroed (``secure_delete``), handed
back (``incremental_vacuum``) and the WAL is truncated, so no copy lingers on disk.

Providers that keep their own copies (Twilio, for SMS and WhatsApp) are asked to delete
them: their message ids are queued for deletion in the same transaction, in jobs of up to
``IDS_PER_DELETION_JOB`` ids.

Handoff rows stay: they hold no content (an alias, a channel, times, an outcome) and are
what the statistics are made of; any still open are ended as "left".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, literal, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import SessionFactory, engine_of, scrub_free_space, write_transaction
from storage.handoffs import LEFT, OPEN
from storage.models import (
    DELETION_ID_SEPARATOR,
    IDS_PER_DELETION_JOB,
    PENDING,
    Conversation,
    ConversationKey,
    Handoff,
    HandoffNote,
    Message,
    OutboxItem,
    ProcessedInbound,
    ProviderDeletion,
    RandomId,
    Report,
    UTCDateTime,
    utcnow,
)

# Conversations per transaction. Fewer, larger batches purge faster (500: 0.30x the bare
# delete, 2,000: about 0.47x; docs/benchmarks.md); on SQLite a batch holds the write lock
# for about 0.2 s, which a person's turn waits out.
BATCH = 2000
PROVIDER_COPY_CHANNELS = frozenset({"sms", "whatsapp"})


@dataclass(frozen=True, slots=True)
class Purged:
    """How many of each kind a purge deleted."""

    conversations: int = 0
    reports: int = 0
    inbound_ids: int = 0


def retention_periods(retention_days: int, report_days: int | None) -> tuple[timedelta, timedelta]:
    """(conversations, reports) keep periods from the two settings."""
    keep = timedelta(days=retention_days)
    return keep, timedelta(days=report_days) if report_days is not None else keep


class RetentionStore:
    """Deletes everything older than the retention period; see the module docstring."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Callable[[], datetime] = utcnow,
        copy_channels: frozenset[str] = PROVIDER_COPY_CHANNELS,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        # Channels whose provider keeps copies we must ask it to delete.
        self._copy_channels = copy_channels

    async def purge(self, keep: timedelta, keep_reports: timedelta | None = None) -> Purged:
        """Delete what has been untouched for longer than ``keep``; returns the counts.

        ``keep_reports``, when given, applies to reports instead of ``keep``.
        """
        cutoff = self._clock() - keep
        report_cutoff = self._clock() - (keep_reports or keep)
        conversations = 0
        while deleted := await self._delete_batch(cutoff):
            conversations += deleted
        async with self._sessions.begin() as session:
            # Reports carry their own key: shred it and the row together.
            stale_reports = select(Report.id).where(Report.updated_at < report_cutoff)
            reports = len(list(await session.scalars(stale_reports)))
            await session.execute(delete(Report).where(Report.updated_at < report_cutoff))
            ledger = await session.execute(
                delete(ProcessedInbound).where(ProcessedInbound.received_at < cutoff)
            )
        async with self._sessions() as session:
            connection = await session.connection()
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA incremental_vacuum")
            await scrub_free_space(connection)
        return Purged(conversations, reports, int(getattr(ledger, "rowcount", 0) or 0))

    async def _delete_batch(self, cutoff: datetime) -> int:
        """Delete up to ``BATCH`` conversations untouched since ``cutoff``; returns how many.

        They are chosen inside the deleting transaction, so a person who writes while the
        purge runs keeps their conversation: on SQLite the transaction holds the database's
        write lock from its first read (a turn's transaction too, and a ``porchlight purge``
        run beside the service waits for it), on PostgreSQL it locks the rows it chooses and
        skips those a turn is writing.
        """
        async with write_transaction(engine_of(self._sessions)) as connection:
            ids = list(
                await connection.scalars(
                    select(Conversation.id)
                    .where(Conversation.last_activity_at < cutoff)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return 0
            await self._queue_provider_deletions(connection, ids)
            await connection.execute(
                update(Handoff)
                .where(Handoff.conversation_id.in_(ids), Handoff.status.in_(OPEN))
                .values(status=LEFT, outcome="expired", ended_at=self._clock())
            )
            await connection.execute(
                delete(ConversationKey).where(ConversationKey.conversation_id.in_(ids))
            )
            for table in (HandoffNote, Message, OutboxItem):
                await connection.execute(delete(table).where(table.conversation_id.in_(ids)))
            await connection.execute(delete(Conversation).where(Conversation.id.in_(ids)))
        return len(ids)

    async def _queue_provider_deletions(self, connection: AsyncConnection, ids: list[str]) -> None:
        """Queue the deletion of every provider id of these conversations, in one statement.

        The database copies the ids from the messages and outbox rows itself (INSERT ...
        SELECT) and packs them into jobs of ``IDS_PER_DELETION_JOB``: a purge queues
        thousands, and carrying each through Python, then writing a row for each, was most
        of a purge's time (docs/benchmarks.md).
        """
        kept_by_provider = and_(
            Conversation.id.in_(ids), Conversation.channel.in_(self._copy_channels)
        )
        provider_ids = union(  # union, not union all: each id once
            select(Conversation.channel, Message.provider_message_id.label("provider_id"))
            .join(Message, Message.conversation_id == Conversation.id)
            .where(kept_by_provider, Message.provider_message_id.is_not(None)),
            select(Conversation.channel, OutboxItem.provider_id.label("provider_id"))
            .join(OutboxItem, OutboxItem.conversation_id == Conversation.id)
            .where(kept_by_provider, OutboxItem.provider_id.is_not(None)),
        ).subquery()
        position = func.row_number().over(
            partition_by=provider_ids.c.channel, order_by=provider_ids.c.provider_id
        )
        numbered = select(
            provider_ids.c.channel,
            provider_ids.c.provider_id,
            # Integer division on both databases (SQLAlchemy's // would call FLOOR, which
            # SQLite builds may lack).
            (position - 1).self_group().op("/")(IDS_PER_DELETION_JOB).label("job"),
        ).subquery()
        await connection.execute(
            insert(ProviderDeletion).from_select(
                ["id", "channel", "provider_ids", "status", "attempts", "next_attempt_at"],
                select(
                    RandomId(),
                    numbered.c.channel,
                    func.aggregate_strings(numbered.c.provider_id, DELETION_ID_SEPARATOR),
                    literal(PENDING),
                    literal(0),
                    literal(self._clock(), UTCDateTime),
                ).group_by(numbered.c.channel, numbered.c.job),
            )
        )
