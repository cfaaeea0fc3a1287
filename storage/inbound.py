"""De-duplication of provider deliveries: the same MessageSid or update_id is handled once."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError

from crypto import KeyRing
from storage.engine import SessionFactory, engine_of
from storage.models import ProcessedInbound, utcnow

_LEDGER: Table = ProcessedInbound.__table__  # type: ignore[assignment]
_RECORD = insert(_LEDGER)  # built once: see storage/conversations.py


class InboundLedger:
    """Remembers which provider message ids were handled, as keyed hashes only."""

    def __init__(
        self, sessions: SessionFactory, keyring: KeyRing, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine_of(sessions)  # a plain connection: see engine_of
        self._key = keyring.derive("inbound-ledger/v1")
        self._clock = clock

    async def first_time(self, channel: str, provider_id: str) -> bool:
        """Record the id; False if it was already recorded (a redelivery)."""
        digest = self._digest(channel, provider_id)
        try:
            async with self._engine.begin() as connection:
                await connection.execute(_RECORD, {"digest": digest, "received_at": self._clock()})
        except IntegrityError:
            return False
        return True

    async def forget(self, channel: str, provider_id: str) -> None:
        """Unrecord the id of a message that could not be handled, so a redelivery is."""
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(_LEDGER).where(_LEDGER.c.digest == self._digest(channel, provider_id))
            )

    def _digest(self, channel: str, provider_id: str) -> str:
        message = f"{channel}\x00{provider_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
