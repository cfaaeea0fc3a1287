"""De-duplication of provider deliveries: the same MessageSid or update_id is handled once.

A delivery is recorded in the same transaction as the turn it caused (see
``ConversationStore.record_turn``), so a turn that failed, or a process killed half-way,
leaves it unrecorded: the provider's redelivery is then handled instead of being lost.
Only a keyed hash of each id is kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ScalarSelect,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from crypto import KeyRing
from storage.engine import SessionFactory, engine_of, write_transaction
from storage.many_rows import ManyRows
from storage.models import ProcessedInbound, utcnow

_LEDGER: Table = ProcessedInbound.__table__  # type: ignore[assignment]
# Built once (see storage/conversations.py).
_RECORD = insert(_LEDGER)
_RECORD_MANY = ManyRows(_RECORD, ("digest", "received_at"))
_SEEN = select(_LEDGER.c.digest).where(_LEDGER.c.digest.in_(bindparam("digests", expanding=True)))


class AlreadyHandled(Exception):
    """This delivery was recorded meanwhile (another instance handled it at the same time)."""


class InboundLedger:
    """Names each delivery by a keyed hash, and records deliveries that need no turn."""

    def __init__(
        self, sessions: SessionFactory, keyring: KeyRing, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine_of(sessions)  # a plain connection: see engine_of
        self._key = keyring.derive("inbound-ledger/v1")
        self._clock = clock

    def delivery(self, channel: str, provider_id: str) -> str:
        """The keyed hash that stands for one delivery in the ledger."""
        message = f"{channel}\x00{provider_id}".encode()
        return hmac.digest(self._key, message, hashlib.sha256).hex()

    async def record(self, delivery: str) -> bool:
        """Record a :meth:`delivery` that caused no turn (a wipe); False if it was already."""
        try:
            async with write_transaction(self._engine) as connection:
                await record_delivery(connection, delivery, self._clock())
        except AlreadyHandled:
            return False
        return True


async def deliveries_seen(connection: AsyncConnection, deliveries: Sequence[str]) -> set[str]:
    """Which of these deliveries were recorded (handled) already."""
    if not deliveries:
        return set()
    found = await connection.execute(_SEEN, {"digests": list(deliveries)})
    return set(found.scalars())


def recorded_among(deliveries: BindParameter[Any]) -> ScalarSelect[Any]:
    """Which of ``deliveries`` (an array) were recorded already, as one array, NULL if none.

    For a person's lookup on a kept PostgreSQL connection, which asks it in the same
    statement as the conversations (storage/conversations.py).
    """
    return (
        select(func.array_agg(_LEDGER.c.digest))
        .where(_LEDGER.c.digest == any_(deliveries))
        .scalar_subquery()
    )


async def record_delivery(connection: AsyncConnection, delivery: str, at: datetime) -> None:
    """Record a delivery in the caller's transaction.

    Raises:
        AlreadyHandled: it was recorded already; the transaction must be rolled back.
    """
    try:
        await connection.execute(_RECORD, {"digest": delivery, "received_at": at})
    except IntegrityError:
        raise AlreadyHandled from None


def deliveries_to_record(
    deliveries: Sequence[str], at: datetime
) -> tuple[ManyRows, list[tuple[str, datetime]]]:
    """The statement and rows that record many deliveries (a batch of turns).

    For the caller to run in its transaction with its other writes (``execute_together``).
    A delivery recorded already fails the whole statement with the database's own error:
    the batch is then stored one turn at a time, where it is :class:`AlreadyHandled`.
    """
    return _RECORD_MANY, [(delivery, at) for delivery in deliveries]
