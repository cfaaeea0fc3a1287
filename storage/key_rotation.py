"""Master-key rotation: re-wrap every wrapped key under the current master key.

Only the small wrapped keys change (conversation data keys, report keys, purpose keys);
the encrypted content under them stays as it is, so a rotation takes seconds even with a
large database, and runs while the service is up: each row is re-wrapped in a short
transaction, conditional on still being wrapped by the old key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from crypto import KeyRing, unwrap_data_key, wrap_data_key
from crypto.cipher import field_aad
from storage.engine import SessionFactory
from storage.models import ConversationKey, Report, ServiceKey
from storage.service_keys import service_key_aad

BATCH = 200

# (table, its key column, how its wrapped key is bound to the row)
WRAPPED: tuple[tuple[Any, Any, Callable[[str], bytes]], ...] = (
    (
        ConversationKey,
        ConversationKey.conversation_id,
        lambda row_id: field_aad("conversation_keys", "wrapped_key", row_id),
    ),
    (Report, Report.id, lambda row_id: field_aad("reports", "wrapped_key", row_id)),
    (ServiceKey, ServiceKey.purpose, service_key_aad),
)


class KeyRotationStore:
    """Re-wraps keys and tells which master keys are still in use."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def rewrap(self, keyring: KeyRing) -> int:
        """Re-wrap everything not yet under the current master key; returns how many."""
        current = keyring.current.key_id
        total = 0
        for table, column, aad in WRAPPED:
            while True:
                async with self._sessions.begin() as session:
                    rows = list(
                        await session.scalars(
                            select(table)
                            .where(table.master_key_id != current, table.wrapped_key.is_not(None))
                            .limit(BATCH)
                            .with_for_update()
                        )
                    )
                    for row in rows:
                        row_id = getattr(row, column.key)
                        data_key = unwrap_data_key(keyring, row.wrapped_key, aad(row_id))
                        row.wrapped_key = wrap_data_key(keyring, data_key, aad(row_id))
                        row.master_key_id = current
                if not rows:
                    break
                total += len(rows)
        return total

    async def key_ids_in_use(self) -> set[str]:
        """Every master key id some stored row still needs."""
        used: set[str] = set()
        async with self._sessions() as session:
            for table, _column, _aad in WRAPPED:
                used |= set(
                    await session.scalars(
                        select(table.master_key_id).where(table.wrapped_key.is_not(None)).distinct()
                    )
                )
        return used
