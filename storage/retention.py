"""Retention: what nobody has touched for ``RETENTION_DAYS`` is deleted, keys and all.

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

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import (
    SessionFactory,
    engine_of,
    hand_back_free_pages,
    one_trip_driver,
    scrub_free_space,
    write_transaction,
)
from storage.handoffs import LEFT, OPEN
from storage.models import (
    Conversation,
    Handoff,
    Message,
    OutboxItem,
    ProcessedInbound,
    Report,
    utcnow,
)
from storage.outbox import queue_deletions, queueable
from storage.sqlite_driver import OneTripConnection

logger = logging.getLogger(__name__)

# Conversations per transaction. Fewer, larger batches purge faster (2,000: about 14,000
# conversations/s, 5,000: about 17,500/s in one series; docs/benchmarks.md); on SQLite a
# batch holds the write lock for about 0.2 s, which a person's turn waits out.
BATCH = 5000
PROVIDER_COPY_CHANNELS = frozenset({"sms", "whatsapp"})

# A batch's statements, built once; each takes the batch's conversation ids as "ids".
_CHOOSE = (
    select(Conversation.id, Conversation.channel)
    .where(Conversation.last_activity_at < bindparam("cutoff"))
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
_END_HANDOFFS = (
    update(Handoff)
    .where(Handoff.conversation_id.in_(bindparam("ids", expanding=True)), Handoff.status.in_(OPEN))
    .values(status=LEFT, outcome="expired", ended_at=bindparam("now"))
)
_DELETE_MESSAGES = (
    delete(Message)
    .where(Message.conversation_id.in_(bindparam("ids", expanding=True)))
    .returning(Message.provider_message_id)
)
_DELETE_OUTBOX = (
    delete(OutboxItem)
    .where(OutboxItem.conversation_id.in_(bindparam("ids", expanding=True)))
    .returning(OutboxItem.provider_id)
)
# Its key, notes, messages and outbox rows go with it (ON DELETE CASCADE), its handoffs stay.
_DELETE_CONVERSATIONS = delete(Conversation).where(
    Conversation.id.in_(bindparam("ids", expanding=True))
)

# The same statements for sqlite3 itself (``_delete_chosen_on_sqlite``), "{ids}" standing for
# a batch's placeholders. The suite runs these on SQLite and those above on PostgreSQL.
_SQLITE_CHOOSE = "SELECT id, channel FROM conversations WHERE last_activity_at < ? LIMIT ?"
_SQLITE_END_HANDOFFS = (
    "UPDATE handoffs SET status = ?, outcome = 'expired', ended_at = ?"  # noqa: S608 (only ?s)
    f" WHERE conversation_id IN ({{ids}}) AND status IN ({', '.join('?' * len(OPEN))})"
)
_SQLITE_DELETE_MESSAGES = (
    "DELETE FROM messages WHERE conversation_id IN ({ids}) RETURNING provider_message_id"
)
_SQLITE_DELETE_OUTBOX = "DELETE FROM outbox WHERE conversation_id IN ({ids}) RETURNING provider_id"
_SQLITE_DELETE_CONVERSATIONS = "DELETE FROM conversations WHERE id IN ({ids})"

# Provider ids returned by a batch's deletes, by channel; a batch: (conversations, those).
_Copies = dict[str, list[str | None]]
_Batch = tuple[int, _Copies]


def _with_ids(statement: str, count: int) -> str:
    """One of the statements above with ``count`` placeholders for its ids."""
    return statement.replace("{ids}", ", ".join("?" * count))


def _as_stored(column: ColumnElement[Any], value: Any, dialect: Dialect) -> Any:
    """``value`` as the database stores it in ``column`` (a timestamp as SQLite's text)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


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
        await hand_back_free_pages(engine_of(self._sessions))
        async with self._sessions() as session:
            await scrub_free_space(await session.connection())
        return Purged(conversations, reports, int(getattr(ledger, "rowcount", 0) or 0))

    async def _delete_batch(self, cutoff: datetime) -> int:
        """Delete up to ``BATCH`` conversations untouched since ``cutoff``; returns how many.

        They are chosen inside the deleting transaction, so a person who writes while the
        purge runs keeps their conversation: on SQLite the transaction holds the database's
        write lock from its first read (a turn's transaction too, and a ``porchlight purge``
        run beside the service waits for it), on PostgreSQL it locks the rows it chooses and
        skips those a turn is writing.

        The provider ids of what is deleted come back from the deletes themselves
        (RETURNING): the database visits those rows anyway, where reading them again
        beforehand was a quarter of a purge's time (docs/benchmarks.md).
        """
        async with write_transaction(engine_of(self._sessions)) as connection:
            driver = await one_trip_driver(connection)
            if driver is None:
                deleted, copies = await self._delete_chosen(connection, cutoff)
            else:
                deleted, copies = await self._delete_chosen_on_sqlite(connection, driver, cutoff)
            await self._queue_provider_deletions(connection, copies)
        return deleted

    async def _delete_chosen(self, connection: AsyncConnection, cutoff: datetime) -> _Batch:
        """A batch's statements through SQLAlchemy (PostgreSQL)."""
        chosen = (await connection.execute(_CHOOSE, {"cutoff": cutoff})).all()
        if not chosen:
            return 0, {}
        ids = [row.id for row in chosen]
        await connection.execute(_END_HANDOFFS, {"ids": ids, "now": self._clock()})
        copies: _Copies = {}
        for channel, of_channel in self._keeping_copies(chosen).items():
            for statement in (_DELETE_MESSAGES, _DELETE_OUTBOX):
                deleted = await connection.scalars(statement, {"ids": of_channel})
                copies.setdefault(channel, []).extend(deleted.all())
        await connection.execute(_DELETE_CONVERSATIONS, {"ids": ids})
        return len(ids), copies

    async def _delete_chosen_on_sqlite(
        self, connection: AsyncConnection, driver: OneTripConnection, cutoff: datetime
    ) -> _Batch:
        """The same statements, given to sqlite3 itself in one trip to its thread.

        SQLAlchemy's work around them, binding 5,000 ids into each and making a row of each
        of the provider ids returned (100,000 for 20,000 SMS conversations), was a fifth of
        a purge's time (docs/benchmarks.md).
        """
        dialect = connection.dialect
        cutoff_stored = _as_stored(Conversation.__table__.c.last_activity_at, cutoff, dialect)
        now_stored = _as_stored(Handoff.__table__.c.ended_at, self._clock(), dialect)

        running = [_SQLITE_CHOOSE]  # the statement under way: the error names it, "{ids}" and all

        def delete_chosen(sqlite: sqlite3.Connection) -> _Batch:
            def execute(statement: str, parameters: Sequence[Any], ids: int = 0) -> list[Any]:
                running[0] = statement
                return sqlite.execute(_with_ids(statement, ids), parameters).fetchall()

            chosen = execute(_SQLITE_CHOOSE, (cutoff_stored, BATCH))
            if not chosen:
                return 0, {}
            ids = [conversation_id for conversation_id, _channel in chosen]
            execute(_SQLITE_END_HANDOFFS, (LEFT, now_stored, *ids, *OPEN), len(ids))
            copies: _Copies = {}
            for channel, of_channel in self._keeping_copies(chosen).items():
                for statement in (_SQLITE_DELETE_MESSAGES, _SQLITE_DELETE_OUTBOX):
                    deleted = execute(statement, of_channel, len(of_channel))
                    copies.setdefault(channel, []).extend(value for (value,) in deleted)
            execute(_SQLITE_DELETE_CONVERSATIONS, ids, len(ids))
            return len(ids), copies

        try:
            return await driver.run_statements(delete_chosen)
        except sqlite3.Error as exc:  # raised as SQLAlchemy raises the driver's errors
            raise DBAPIError.instance(
                running[0], None, exc, sqlite3.Error, hide_parameters=True, dialect=dialect
            ) from exc

    def _keeping_copies(self, chosen: Sequence[Sequence[str]]) -> dict[str, list[str]]:
        """The chosen (id, channel) pairs whose provider keeps copies: their ids by channel.

        Only their messages and outbox rows are deleted one by one, returning the provider
        ids; the rest go with their conversation.
        """
        kept: dict[str, list[str]] = {}
        for conversation_id, channel in chosen:
            if channel in self._copy_channels:
                kept.setdefault(channel, []).append(conversation_id)
        return kept

    async def _queue_provider_deletions(self, connection: AsyncConnection, copies: _Copies) -> None:
        """Queue the deletion of every provider id, each once, by channel, in jobs of 50."""
        now = self._clock()
        for channel, returned in copies.items():
            provider_ids = dict.fromkeys(i for i in returned if i is not None)
            queued = [provider_id for provider_id in provider_ids if queueable(provider_id)]
            if len(queued) < len(provider_ids):  # never a Twilio SID; a purge must not stop
                logger.warning(
                    "retention: %d provider ids could not be queued for deletion",
                    len(provider_ids) - len(queued),
                )
            await queue_deletions(connection, channel, queued, now)
