"""Purpose keys (pseudonyms, receipt digests, the inbound ledger, two-factor secrets).

Each is derived once from the master key of the day, stored wrapped like a data key, and
pinned into the key ring at start (:meth:`crypto.KeyRing.pin`). A master-key rotation then
re-wraps them like any data key, and their values never change: returning people are still
recognised, saved receipt codes still open their reports, two-factor still works.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crypto import KeyRing, unwrap_data_key, wrap_data_key, wrapped_key_id
from crypto.cipher import field_aad
from crypto.keyring import KEY_BYTES
from crypto.pseudonym import PURPOSE as PSEUDONYM_PURPOSE
from storage.engine import SessionFactory
from storage.models import ServiceKey, utcnow

# Every purpose the service derives a key for (see the callers of KeyRing.derive).
PURPOSES = (
    PSEUDONYM_PURPOSE,
    "receipt-salt/v1",
    "inbound-ledger/v1",
    "totp-secrets",
    "instance-bus/v1",  # storage/bus.py: every instance must seal with the same key
)


def service_key_aad(purpose: str) -> bytes:
    """Binds a wrapped purpose key to its row."""
    return field_aad("service_keys", "wrapped_key", purpose)


class ServiceKeyStore:
    """Loads (creating on first use) and pins the purpose keys."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def pin_all(self, keyring: KeyRing) -> None:
        """Pin every purpose key into ``keyring``, storing any that is not stored yet.

        A purpose seen for the first time gets exactly the value the service has always
        derived (from the current master key), so upgrading changes nothing.
        """
        for purpose in PURPOSES:
            keyring.pin(purpose, await self._load_or_create(keyring, purpose))

    async def _load_or_create(self, keyring: KeyRing, purpose: str) -> bytes:
        async with self._sessions() as session:
            row = await session.get(ServiceKey, purpose)
        if row is not None:
            return unwrap_data_key(keyring, row.wrapped_key, service_key_aad(purpose))
        value = keyring.derive_fresh(purpose, KEY_BYTES)
        wrapped = wrap_data_key(keyring, value, service_key_aad(purpose))
        try:
            async with self._sessions.begin() as session:
                session.add(
                    ServiceKey(
                        purpose=purpose,
                        master_key_id=wrapped_key_id(wrapped),
                        wrapped_key=wrapped,
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:  # another instance stored it first: use theirs
            async with self._sessions() as session:
                stored = await session.scalar(
                    select(ServiceKey.wrapped_key).where(ServiceKey.purpose == purpose)
                )
            assert stored is not None  # noqa: S101 -- the conflicting row exists
            return unwrap_data_key(keyring, stored, service_key_aad(purpose))
        return value
