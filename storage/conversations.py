"""The conversation store: the only code that reads or writes conversations and messages.

Everything sensitive is sealed here, under the conversation's own data key, with associated
data naming the table, column and row. Callers get plain, detached values and never touch
the ORM or the ciphertext. What it hands out and raises is in storage/conversation_types.py;
how a batch of people's turns becomes rows, in storage/turn_rows.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crypto import (
    FieldCipher,
    KeyRing,
    new_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from crypto.cipher import field_aad
from storage.batching import BatchingQueue
from storage.conversation_types import (
    ACTIVE,
    ENDED,
    EXPIRED,
    ConversationKeyDestroyed,
    ConversationNotFound,
    ConversationView,
    NewMessage,
    StoredMessage,
    alias_for,
)
from storage.engine import (
    SessionFactory,
    engine_of,
    reads_without_transaction,
    run_on_the_loop,
    scrub_free_space,
    write_transaction,
)
from storage.ids import new_id
from storage.inbound import (
    deliveries_seen,
    deliveries_to_record,
    record_delivery,
    recorded_among,
)
from storage.kept_connection import DriverSelect, KeptConnection
from storage.models import (
    PENDING,
    Conversation,
    ConversationKey,
    Message,
    OutboxItem,
    utcnow,
)
from storage.turn_rows import Turn, TurnRows, key_aad, seal_flow_state, unwrapped_cipher

logger = logging.getLogger(__name__)

# A result row of any shape, as the turn's statements answer them.
_Row = Row[*tuple[Any, ...]]

# A turn (lookup, creation, the turn itself) uses the tables directly, not the ORM: its unit
# of work and identity map were most of a message's CPU (docs/benchmarks.md).
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_KEYS: Table = ConversationKey.__table__  # type: ignore[assignment]

# The turn's statements are built once, with bound parameters: SQLAlchemy then finds each
# one's compiled form by a key it remembers, instead of walking a fresh statement and its
# values on every message (docs/benchmarks.md).
_WITH_KEYS = _CONVERSATIONS.outerjoin(_KEYS, _KEYS.c.conversation_id == _CONVERSATIONS.c.id)
_NEWEST_FIRST = _CONVERSATIONS.c.last_activity_at.desc()  # per person, the first row wins


def _active_of(these_people: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(these_people, _CONVERSATIONS.c.status == ACTIVE)


_ACTIVE_WITH_KEYS = (
    select(_CONVERSATIONS, _KEYS.c.wrapped_key)  # and each one's key: one statement
    .select_from(_WITH_KEYS)
    .where(_active_of(_CONVERSATIONS.c.pseudonym.in_(bindparam("pseudonyms", expanding=True))))
    .order_by(_NEWEST_FIRST)
)
# The same on a kept PostgreSQL connection (storage/kept_connection.py), with the deliveries
# handled already, in one statement: one round trip for a batch of lookups instead of two.
# Every row carries those deliveries, and when nobody has a conversation there is still one
# row, of NULLs. Arrays instead of an expanding IN: one prepared statement for any batch.
_TEXTS = postgresql.ARRAY(String)
_HANDLED_AND_ACTIVE_WITH_KEYS = DriverSelect(
    select(
        recorded_among(bindparam("deliveries", type_=_TEXTS)).label("handled"),
        _CONVERSATIONS,
        _KEYS.c.wrapped_key,
    )
    .select_from(
        select(literal(1).label("one"))
        .subquery("one_row")
        .outerjoin(
            _WITH_KEYS,
            _active_of(_CONVERSATIONS.c.pseudonym == any_(bindparam("pseudonyms", type_=_TEXTS))),
        )
    )
    .order_by(_NEWEST_FIRST)
)
_TURN_ROWS = (
    select(
        _CONVERSATIONS.c.id,
        _CONVERSATIONS.c.channel,
        _CONVERSATIONS.c.message_count,
        _KEYS.c.wrapped_key,
    )
    .outerjoin(_KEYS, _KEYS.c.conversation_id == _CONVERSATIONS.c.id)
    .where(_CONVERSATIONS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_CONVERSATIONS.c.id)  # rows locked in one order: two batches cannot deadlock
    .with_for_update(of=_CONVERSATIONS)
)
# Batches: turns stored in one transaction, lookups made with one statement (storage/batching.py).
TURNS_PER_BATCH = 64
LOOKUPS_PER_BATCH = 128
_WRAPPED_KEY = select(_KEYS.c.wrapped_key).where(
    _KEYS.c.conversation_id == bindparam("conversation_id")
)


class ConversationStore:
    """Intent-named operations on conversations; see the module docstring for the why.

    ``keep_connections``: on PostgreSQL, people's lookups and first turns run on two
    connections kept for them (storage/kept_connection.py) until
    :meth:`hand_back_connections`. For the service; a short-lived store has no use for it.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        keyring: KeyRing,
        clock: Callable[[], datetime] = utcnow,
        *,
        keep_connections: bool = False,
    ) -> None:
        self._sessions = sessions
        self._engine = engine_of(sessions)  # for a person's turn (see engine_of)
        self._keyring = keyring
        self._clock = clock
        keep = keep_connections and self._engine.dialect.name == "postgresql"
        self._lookup_connection = KeptConnection(self._engine) if keep else None
        self._turn_connection = KeptConnection(self._engine) if keep else None
        # People's turns and lookups, done together when they arrive together.
        self._lookups: BatchingQueue[_Lookup, _Found] = BatchingQueue(
            self._find_many, max_items=LOOKUPS_PER_BATCH
        )
        self._turns: BatchingQueue[Turn, None] = BatchingQueue(
            self._store_turns, max_items=TURNS_PER_BATCH
        )

    async def find_active(self, channel: str, pseudonym: str) -> ConversationView | None:
        """The person's ongoing conversation on this channel, if any."""
        conversation, _handled = await self.find_for_turn(channel, pseudonym, None)
        return conversation

    async def find_for_turn(
        self, channel: str, pseudonym: str, delivery: str | None
    ) -> tuple[ConversationView | None, bool]:
        """The person's ongoing conversation, and whether ``delivery`` was handled already.

        ``delivery`` names the provider's delivery of the message (see storage/inbound.py);
        None when the channel has no such id (web chat).
        """
        row, handled = await self._lookups.add(_Lookup(channel, pseudonym, delivery))
        if row is None:
            return None, handled
        return self._view(row, unwrapped_cipher(self._keyring, row.id, row.wrapped_key)), False

    async def hand_back_connections(self) -> None:
        """Return the kept connections to the pool: at shutdown, before the engine goes."""
        for kept in (self._lookup_connection, self._turn_connection):
            if kept is not None:
                await kept.hand_back()

    async def _find_many(self, lookups: Sequence[_Lookup]) -> list[_Found | Exception]:
        """Several people's lookups: one connection, one statement (a kept connection's) or two."""
        deliveries = [lookup.delivery for lookup in lookups if lookup.delivery is not None]
        pseudonyms = sorted({lookup.pseudonym for lookup in lookups})
        found: Sequence[Any]
        if self._lookup_connection is not None:
            rows = await self._lookup_connection.fetch(
                _HANDLED_AND_ACTIVE_WITH_KEYS, deliveries=deliveries, pseudonyms=pseudonyms
            )
            handled = set(rows[0].handled or ())
            found = [row for row in rows if row.id is not None]
        else:
            async with self._engine.connect() as connection:
                await reads_without_transaction(connection)
                await run_on_the_loop(connection)
                handled = await deliveries_seen(connection, deliveries)
                found = (
                    await connection.execute(_ACTIVE_WITH_KEYS, {"pseudonyms": pseudonyms})
                ).all()
        newest: dict[tuple[str, str], Any] = {}
        for row in found:
            newest.setdefault((row.channel, row.pseudonym), row)
        return [
            (None, True)
            if lookup.delivery in handled
            else (newest.get((lookup.channel, lookup.pseudonym)), False)
            for lookup in lookups
        ]

    def draft(
        self,
        *,
        channel: str,
        pseudonym: str,
        reply_address: str | None,
        script: str,
        flow_state: dict[str, Any],
    ) -> ConversationView:
        """A new conversation, not stored yet: :meth:`start_with_turn` stores it.

        A person's first message then costs one transaction, not two, and a first turn
        that fails leaves no conversation behind for the provider's redelivery to find.
        """
        now = self._clock()
        return ConversationView(
            id=new_id(),
            channel=channel,
            pseudonym=pseudonym,
            status=ACTIVE,
            script=script,
            flow_state=json.loads(json.dumps(flow_state)),  # as it will read back: plain JSON
            reply_address=reply_address,
            message_count=0,
            created_at=now,
            last_activity_at=now,
        )

    async def start_conversation(
        self,
        *,
        channel: str,
        pseudonym: str,
        reply_address: str | None,
        script: str,
        flow_state: dict[str, Any],
    ) -> ConversationView:
        """Create a conversation with no messages yet (see :meth:`start_with_turn`)."""
        draft = self.draft(
            channel=channel,
            pseudonym=pseudonym,
            reply_address=reply_address,
            script=script,
            flow_state=flow_state,
        )
        await self.start_with_turn(draft, flow_state=flow_state, status=ACTIVE, messages=())
        return draft

    async def start_with_turn(
        self,
        draft: ConversationView,
        *,
        flow_state: dict[str, Any],
        status: str,
        messages: Sequence[NewMessage],
        timer_due_at: datetime | None = None,
        outbox: Sequence[str] = (),
        delivery: str | None = None,
    ) -> None:
        """Store a :meth:`draft` and its first turn (as :meth:`record_turn`) in one transaction.

        The conversation gets a fresh data key, wrapped by the current master key.

        Raises:
            AlreadyHandled: ``delivery`` was recorded meanwhile; nothing was stored.
        """
        await self._turns.add(
            Turn(draft.id, draft, flow_state, status, messages, timer_due_at, outbox, delivery)
        )

    async def get(self, conversation_id: str) -> ConversationView:
        """Load and decrypt one conversation."""
        async with self._sessions() as session:
            row = await session.get(Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(conversation_id)
            return self._view(row, await self._cipher(session, conversation_id))

    async def record_turn(
        self,
        conversation_id: str,
        *,
        flow_state: dict[str, Any],
        status: str,
        messages: Sequence[NewMessage],
        timer_due_at: datetime | None = None,
        outbox: Sequence[str] = (),
        delivery: str | None = None,
    ) -> None:
        """Store one turn atomically: messages, flow state, status, next timer, and outbox.

        ``outbox`` holds the messages (JSON) a provider must deliver; they are queued in the
        same transaction, so a crash cannot lose them or send them for a lost turn.
        ``delivery``, the provider's delivery that caused the turn, is recorded with it.
        Turns of several people arriving together are stored in one transaction; each
        still succeeds or fails on its own.

        Raises:
            ConversationNotFound: the conversation is gone.
            AlreadyHandled: ``delivery`` was recorded meanwhile; nothing was stored.
        """
        turn = Turn(
            conversation_id, None, flow_state, status, messages, timer_due_at, outbox, delivery
        )
        await self._turns.add(turn)

    async def _store_turns(self, turns: Sequence[Turn]) -> list[Exception | None]:
        """A batch of turns, in one transaction; one at a time if one turn is at fault.

        A delivery another instance recorded meanwhile, a value that cannot be sealed, any
        error one turn can cause fails the batch's transaction: then each turn is stored
        alone, so only the turn at fault fails, with its own error. When the database
        itself refused (locked too long, the connection lost), every turn fails with that
        at once: each alone would only wait as long again, and their callers try again.
        First turns on a kept connection go together even alone: their one statement costs
        less than a transaction.
        """
        if len(turns) > 1 or self._kept_for(turns) is not None:
            try:
                return await self._store_together(turns)
            except DBAPIError as exc:
                if isinstance(exc, OperationalError) or exc.connection_invalidated:
                    logger.warning(
                        "turns: a batch of %d failed (%s)", len(turns), type(exc).__name__
                    )
                    return [exc] * len(turns)
                # Otherwise one turn's (a delivery recorded meanwhile): each alone says which.
            except Exception:  # noqa: S110 -- each turn alone says what was wrong
                pass
        outcomes: list[Exception | None] = []
        for turn in turns:
            try:
                await self._store_alone(turn)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    async def _store_alone(self, turn: Turn) -> None:
        """One turn in its own transaction, its delivery recorded first (refused at once)."""
        now = self._clock()
        async with write_transaction(self._engine) as connection:
            await run_on_the_loop(connection)
            if turn.delivery is not None:
                await record_delivery(connection, turn.delivery, now)  # AlreadyHandled
            found = await self._turn_rows(connection, [turn])
            rows = TurnRows()
            rows.add(self._keyring, turn, found.get(turn.conversation_id), now)
            await rows.write(connection)

    def _kept_for(self, turns: Sequence[Turn]) -> KeptConnection | None:
        """The kept connection for turns that are all first turns, if there is one."""
        if self._turn_connection is not None and all(turn.draft is not None for turn in turns):
            return self._turn_connection
        return None

    async def _store_together(self, turns: Sequence[Turn]) -> list[Exception | None]:
        """Many turns in one transaction; a turn whose conversation is gone fails alone.

        First turns on a kept connection: one statement instead (:meth:`_store_first_turns`).
        """
        now = self._clock()
        kept = self._kept_for(turns)
        if kept is not None:
            return await self._store_first_turns(kept, turns, now)
        outcomes: list[Exception | None] = []
        async with write_transaction(self._engine) as connection:
            await run_on_the_loop(connection)
            found = await self._turn_rows(connection, turns)
            rows = TurnRows()
            deliveries = []
            for turn in turns:
                try:
                    rows.add(self._keyring, turn, found.get(turn.conversation_id), now)
                except LookupError as exc:  # gone, or its key destroyed
                    outcomes.append(exc)
                    continue
                outcomes.append(None)
                if turn.delivery is not None:
                    deliveries.append(turn.delivery)
            await rows.write(connection, also=[deliveries_to_record(deliveries, now)])
        return outcomes

    async def _store_first_turns(
        self, kept: KeptConnection, turns: Sequence[Turn], now: datetime
    ) -> list[Exception | None]:
        """People's first turns, on the kept connection: one statement, no transaction.

        A delivery recorded meanwhile fails the statement, and every turn in it: then each
        is stored alone (see :meth:`_store_turns`), where that one is ``AlreadyHandled``.
        """
        rows = TurnRows()
        for turn in turns:
            rows.add(self._keyring, turn, None, now)
        deliveries = [turn.delivery for turn in turns if turn.delivery is not None]
        await rows.insert_on(kept, also=[deliveries_to_record(deliveries, now)])
        return [None] * len(turns)

    @staticmethod
    async def _turn_rows(connection: AsyncConnection, turns: Sequence[Turn]) -> dict[str, _Row]:
        """The stored conversations these turns go on, locked until the transaction ends."""
        ids = [turn.conversation_id for turn in turns if turn.draft is None]
        if not ids:
            return {}
        return {row.id: row for row in await connection.execute(_TURN_ROWS, {"ids": ids})}

    async def close(self, conversation_id: str, status: str) -> None:
        """End an active conversation without a turn (it expired)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.status == ACTIVE)
                .values(status=status, timer_due_at=None, last_activity_at=self._clock())
            )

    async def due_for_timer(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of active conversations whose timer is due, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Conversation.id)
                .where(Conversation.status == ACTIVE, Conversation.timer_due_at <= now)
                .order_by(Conversation.timer_due_at)
                .limit(limit)
            )
            return list(rows)

    async def messages(self, conversation_id: str) -> list[StoredMessage]:
        """The decrypted transcript, oldest first."""
        async with self._sessions() as session:
            cipher = await self._cipher(session, conversation_id)
            rows = await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.seq)
            )
            return [
                StoredMessage(
                    seq=m.seq,
                    direction=m.direction,
                    sender=m.sender,
                    text=cipher.open_text(m.body, field_aad("messages", "body", m.id)),
                    created_at=m.created_at,
                )
                for m in rows
            ]

    async def erasable_history(self, conversation_id: str, since: datetime) -> list[str]:
        """Provider ids of both sides' messages since ``since``.

        Read just before a wipe so a channel that can delete the chat's copy (Telegram)
        still knows what to delete; afterwards nothing is left to read them from.
        """
        async with self._sessions() as session:
            inbound = await session.scalars(
                select(Message.provider_message_id).where(
                    Message.conversation_id == conversation_id,
                    Message.provider_message_id.is_not(None),
                    Message.created_at >= since,
                )
            )
            outbound = await session.scalars(
                select(OutboxItem.provider_id).where(
                    OutboxItem.conversation_id == conversation_id,
                    OutboxItem.provider_id.is_not(None),
                    OutboxItem.created_at >= since,
                )
            )
            ids = {i for i in (*inbound, *outbound) if i is not None}
            return sorted(ids, key=lambda i: (len(i), i))

    async def shred_history(self, conversation_id: str, flow_state: dict[str, Any]) -> None:
        """Crypto-shred everything said so far but keep the conversation going (duress).

        A fresh data key replaces the old one, which is destroyed: the messages and earlier
        answers go with it. Only what must survive is moved to the new key: the reply
        address and the messages still waiting in the outbox (the innocuous reply that must
        still reach the person). Everything else queued or sent is deleted.
        """
        async with self._sessions.begin() as session:
            row = await session.get(Conversation, conversation_id, with_for_update=True)
            if row is None:
                raise ConversationNotFound(conversation_id)
            old = await self._cipher(session, conversation_id)
            data_key = new_data_key()
            wrapped = wrap_data_key(self._keyring, data_key, key_aad(conversation_id))
            new = FieldCipher(data_key)
            if row.reply_address is not None:
                aad = field_aad("conversations", "reply_address", conversation_id)
                row.reply_address = new.seal_text(old.open_text(row.reply_address, aad), aad)
            items = await session.scalars(
                select(OutboxItem).where(OutboxItem.conversation_id == conversation_id)
            )
            for item in items:
                if item.status == PENDING:
                    aad = field_aad("outbox", "body", item.id)
                    item.body = new.seal_text(old.open_text(item.body, aad), aad)
                else:
                    await session.delete(item)
            await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            row.flow_state = seal_flow_state(new, conversation_id, flow_state)
            row.message_count = 0
            key_row = await session.get(ConversationKey, conversation_id)
            assert key_row is not None  # noqa: S101 -- _cipher found it above
            key_row.wrapped_key = wrapped
            key_row.master_key_id = wrapped_key_id(wrapped)
        async with self._sessions() as session:
            await scrub_free_space(await session.connection())

    async def destroy_key(self, conversation_id: str) -> bool:
        """Crypto-shred: delete only the data key, leaving ciphertext nobody can open."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(ConversationKey).where(ConversationKey.conversation_id == conversation_id)
            )
            return bool(getattr(result, "rowcount", 0))

    async def wipe(self, conversation_id: str) -> bool:
        """Destroy the key, then the rows: the conversation is gone, not just hidden.

        The key goes first, in its own transaction, so that even if the second delete
        fails, what remains is unreadable.
        """
        shredded = await self.destroy_key(conversation_id)
        async with self._sessions.begin() as session:
            await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            result = await session.execute(
                delete(Conversation).where(Conversation.id == conversation_id)
            )
            removed = bool(getattr(result, "rowcount", 0))
        async with self._sessions() as session:
            await scrub_free_space(await session.connection())
        return shredded or removed

    async def ids_for(self, channel: str, pseudonym: str) -> list[str]:
        """Every conversation of one person on one channel, whatever its status."""
        async with self._sessions() as session:
            query = select(Conversation.id).where(
                Conversation.channel == channel, Conversation.pseudonym == pseudonym
            )
            return list(await session.scalars(query))

    async def ids(self) -> list[str]:
        """Every conversation id, oldest activity first."""
        async with self._sessions() as session:
            query = select(Conversation.id).order_by(Conversation.last_activity_at)
            return list(await session.scalars(query))

    async def count(self, status: str | None = None) -> int:
        """How many conversations exist (optionally in one status); for health and tests."""
        query = select(func.count()).select_from(Conversation)
        if status is not None:
            query = query.where(Conversation.status == status)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def _cipher(self, session: AsyncSession, conversation_id: str) -> FieldCipher:
        return await conversation_cipher(session, self._keyring, conversation_id)

    def _view(self, row: Conversation | _Row, cipher: FieldCipher) -> ConversationView:
        reply_address = (
            None
            if row.reply_address is None
            else cipher.open_text(
                row.reply_address, field_aad("conversations", "reply_address", row.id)
            )
        )
        state = json.loads(
            cipher.open_text(row.flow_state, field_aad("conversations", "flow_state", row.id))
        )
        return ConversationView(
            id=row.id,
            channel=row.channel,
            pseudonym=row.pseudonym,
            status=row.status,
            script=row.script,
            flow_state=state,
            reply_address=reply_address,
            message_count=row.message_count,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
        )


async def conversation_cipher(
    session: AsyncSession, keyring: KeyRing, conversation_id: str
) -> FieldCipher:
    """The conversation's cipher, for stores whose rows are sealed under its key."""
    wrapped = await session.scalar(_WRAPPED_KEY, {"conversation_id": conversation_id})
    return unwrapped_cipher(keyring, conversation_id, wrapped)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Whose conversation to find, and the delivery to look up in the ledger."""

    channel: str
    pseudonym: str
    delivery: str | None


# The person's newest active conversation with its wrapped key (None: they have none), and
# whether the delivery was handled already.
_Found = tuple[_Row | None, bool]


__all__ = [
    "ACTIVE",
    "ENDED",
    "EXPIRED",
    "LOOKUPS_PER_BATCH",
    "TURNS_PER_BATCH",
    "ConversationKeyDestroyed",
    "ConversationNotFound",
    "ConversationStore",
    "ConversationView",
    "NewMessage",
    "StoredMessage",
    "alias_for",
    "conversation_cipher",
    "unwrapped_cipher",
]
