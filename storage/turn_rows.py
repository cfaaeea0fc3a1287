"""A batch of people's turns as rows: sealed under each conversation's key, ready to write.

``ConversationStore`` (storage/conversations.py) gathers the turns of people writing at the
same time (storage/batching.py); :class:`TurnRows` seals each turn's rows under its
conversation's own data key, numbered after what the conversation holds, and writes them
with one statement per table (storage/many_rows.py), on PostgreSQL all in one; people's
first turns there on a connection their stage keeps (storage/kept_connection.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crypto import (
    FieldCipher,
    KeyRing,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from crypto.cipher import field_aad
from storage.conversation_types import (
    ACTIVE,
    ConversationKeyDestroyed,
    ConversationNotFound,
    ConversationView,
    NewMessage,
)
from storage.ids import new_ids
from storage.kept_connection import KeptConnection
from storage.many_rows import ManyRows, execute_together, together
from storage.models import PENDING, Conversation, ConversationKey, Message, OutboxItem

_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_KEYS: Table = ConversationKey.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
# A result row of any shape, as the turn's statements answer them.
_Row = Row[*tuple[Any, ...]]
# A statement and the rows to run it for (storage/many_rows.py).
Rows = tuple[ManyRows, Sequence[tuple[Any, ...]]]

# A batch's rows, bound once per batch instead of once per row (storage/many_rows.py).
_INSERT_CONVERSATIONS = ManyRows(
    insert(_CONVERSATIONS),
    (
        "id", "channel", "pseudonym", "status", "script", "reply_address", "flow_state",
        "message_count", "created_at", "last_activity_at", "timer_due_at",
    ),
)  # fmt: skip
_INSERT_KEYS = ManyRows(insert(_KEYS), ("conversation_id", "master_key_id", "wrapped_key"))
_INSERT_MESSAGES = ManyRows(
    insert(_MESSAGES),
    (
        "id", "conversation_id", "seq", "direction", "sender", "body", "provider_message_id",
        "created_at",
    ),
)  # fmt: skip
_INSERT_OUTBOX = ManyRows(
    insert(_OUTBOX),
    (
        "id", "conversation_id", "channel", "seq", "body", "status", "attempts",
        "next_attempt_at", "created_at",
    ),
)  # fmt: skip
# The turn's new state, on the row picked by "turn_of".
_UPDATE_TURNS = ManyRows(
    update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("turn_of")),
    ("status", "flow_state", "message_count", "last_activity_at", "timer_due_at", "turn_of"),
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn to store: on a stored conversation, or on a draft stored with it."""

    conversation_id: str
    draft: ConversationView | None
    flow_state: dict[str, Any]
    status: str
    messages: Sequence[NewMessage]
    timer_due_at: datetime | None
    outbox: Sequence[str]
    delivery: str | None


@dataclass(frozen=True, slots=True)
class _Written:
    """Where a conversation stands after a turn earlier in the same batch."""

    channel: str
    message_count: int
    cipher: FieldCipher


@dataclass
class TurnRows:
    """The rows of a batch of turns, sealed and ready: one statement per table."""

    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    # A conversation with two turns in one batch: the second goes on from the first.
    written: dict[str, _Written] = field(default_factory=dict)

    def add(self, keyring: KeyRing, turn: Turn, stored: _Row | None, now: datetime) -> None:
        """Seal one turn's rows under its conversation's key, numbered after what it holds.

        Raises:
            ConversationNotFound: the turn is on a conversation that is not stored.
            ConversationKeyDestroyed: its key is gone; nothing can be sealed for it.
        """
        conversation_id = turn.conversation_id
        before = self.written.get(conversation_id)
        if turn.draft is not None:
            before = self._start(keyring, turn.draft, turn, now)
        elif before is None:
            if stored is None:
                raise ConversationNotFound(conversation_id)
            cipher = unwrapped_cipher(keyring, conversation_id, stored.wrapped_key)
            before = _Written(stored.channel, stored.message_count, cipher)
        cipher, count = before.cipher, before.message_count
        self.messages += [
            (
                message_id,
                conversation_id,
                count + offset,
                message.direction,
                message.sender,
                cipher.seal_text(message.text, field_aad("messages", "body", message_id)),
                message.provider_message_id,
                now,
            )
            for offset, (message_id, message) in enumerate(
                zip(new_ids(len(turn.messages)), turn.messages, strict=True), start=1
            )
        ]
        self.outbox += [
            (
                item_id,
                conversation_id,
                before.channel,
                count + offset,
                cipher.seal_text(body, field_aad("outbox", "body", item_id)),
                PENDING,
                0,
                now,
                now,
            )
            for offset, (item_id, body) in enumerate(
                zip(new_ids(len(turn.outbox)), turn.outbox, strict=True), start=1
            )
        ]
        if turn.draft is None:
            self.updates.append(
                (
                    turn.status,
                    seal_flow_state(cipher, conversation_id, turn.flow_state),
                    count + len(turn.messages),
                    now,
                    turn.timer_due_at if turn.status == ACTIVE else None,
                    conversation_id,
                )
            )
        self.written[conversation_id] = _Written(before.channel, count + len(turn.messages), cipher)

    def _start(
        self, keyring: KeyRing, draft: ConversationView, turn: Turn, now: datetime
    ) -> _Written:
        """The new conversation's row and its fresh data key, wrapped by the master key."""
        data_key = new_data_key()
        wrapped = wrap_data_key(keyring, data_key, key_aad(draft.id))
        cipher = FieldCipher(data_key)
        sealed_address = (
            None
            if draft.reply_address is None
            else cipher.seal_text(
                draft.reply_address, field_aad("conversations", "reply_address", draft.id)
            )
        )
        self.conversations.append(
            (
                draft.id,
                draft.channel,
                draft.pseudonym,
                turn.status,
                draft.script,
                sealed_address,
                seal_flow_state(cipher, draft.id, turn.flow_state),
                len(turn.messages),
                draft.created_at,
                now,
                turn.timer_due_at if turn.status == ACTIVE else None,
            )
        )
        self.keys.append((draft.id, wrapped_key_id(wrapped), wrapped))
        return _Written(draft.channel, 0, cipher)

    async def write(self, connection: AsyncConnection, also: Sequence[Rows] = ()) -> None:
        """Insert and update it all, conversations before what refers to them.

        ``also``: more rows to insert, on other tables, first. On PostgreSQL all of it goes
        in one statement (storage/many_rows.py), unless a conversation is updated twice or
        updated after its insert in this batch: one statement's parts would not see each
        other's rows.
        """
        work = [*self._inserts(also), (_UPDATE_TURNS, self.updates)]
        updated = [update[-1] for update in self.updates]
        inserted = {conversation[0] for conversation in self.conversations}
        if len(set(updated)) == len(updated) and inserted.isdisjoint(updated):
            await execute_together(connection, work)
            return
        for many, rows in work:
            await many.execute(connection, rows)

    async def insert_on(self, kept: KeptConnection, also: Sequence[Rows] = ()) -> None:
        """Insert it all in one statement on a kept connection (storage/kept_connection.py).

        For first turns only, whose rows depend on nothing stored: nothing to lock or read
        first, and one statement is atomic by itself, so no BEGIN and COMMIT round trips.
        """
        if self.updates:
            raise ValueError("turns on stored conversations are stored in a transaction")
        await kept.execute(*together(kept.dialect, self._inserts(also)))

    def _inserts(self, also: Sequence[Rows]) -> list[Rows]:
        """The inserts, ``also`` first, then conversations before what refers to them."""
        return [
            *also,
            (_INSERT_CONVERSATIONS, self.conversations),
            (_INSERT_KEYS, self.keys),
            (_INSERT_MESSAGES, self.messages),
            (_INSERT_OUTBOX, self.outbox),
        ]


def unwrapped_cipher(keyring: KeyRing, conversation_id: str, wrapped: bytes | None) -> FieldCipher:
    """The cipher of a conversation's wrapped data key read from the database.

    Raises:
        ConversationKeyDestroyed: ``wrapped`` is None: the key was destroyed.
    """
    if wrapped is None:
        raise ConversationKeyDestroyed(conversation_id)
    return FieldCipher(unwrap_data_key(keyring, wrapped, key_aad(conversation_id)))


def key_aad(conversation_id: str) -> bytes:
    """The associated data that binds a wrapped data key to its conversation."""
    return field_aad("conversation_keys", "wrapped_key", conversation_id)


def seal_flow_state(cipher: FieldCipher, conversation_id: str, state: dict[str, Any]) -> Any:
    """The flow's state as compact JSON, sealed for its conversation's row."""
    payload = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    return cipher.seal_text(payload, field_aad("conversations", "flow_state", conversation_id))


__all__ = ["Rows", "Turn", "TurnRows", "key_aad", "seal_flow_state", "unwrapped_cipher"]
