"""Reading the outbox in tests: what would be sent, decrypted, in order."""

from __future__ import annotations

import json

from sqlalchemy import select

from crypto import KeyRing
from crypto.cipher import field_aad
from storage.conversations import conversation_cipher
from storage.engine import SessionFactory
from storage.models import OutboxItem


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
