"""Reading the outbox in tests: what would be sent, decrypted, in order."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from crypto import KeyRing
from crypto.cipher import field_aad
from storage.conversations import conversation_cipher
from storage.engine import SessionFactory
from storage.models import SENDING, OutboxItem


async def queued_messages(sessions: SessionFactory, keyring: KeyRing) -> list[tuple[str, str]]:
    """(status, text) of every outbox row, in the order they were queued.

    Rows of one turn share a timestamp (and a fake clock makes whole tests share one), so
    ties are broken by each conversation's sequence number, as the outbox worker does;
    PostgreSQL, unlike SQLite, does not return ties in the order they were written.
    """
    async with sessions() as session:
        rows = list(
            await session.scalars(
                select(OutboxItem).order_by(OutboxItem.created_at, OutboxItem.seq)
            )
        )
        found = []
        for row in rows:
            cipher = await conversation_cipher(session, keyring, row.conversation_id)
            body = cipher.open_text(row.body, field_aad("outbox", "body", row.id))
            found.append((row.status, json.loads(body)["text"]))
        return found


async def in_flight(counts: Callable[[], Awaitable[dict[str, int]]]) -> int:
    """How many rows a worker is sending right now (``counts`` of the outbox or deletions).

    A test that moves a fake clock to reach a retry must first wait for this to be 0: the
    provider has answered by then, and the retry has been booked from the clock as it was.
    """
    return (await counts()).get(SENDING, 0)
