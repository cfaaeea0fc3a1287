"""``porchlight keys rotate`` and ``porchlight keys retire``: replacing the master key online.

Rotate appends a new key to the key file and re-wraps every wrapped key under it. Running
services pick the new key up within a minute (they re-read the file, and immediately when
they meet a key id they do not know). Retire, run once every instance has had time to do
that, re-wraps any stragglers and removes the old keys from the file: from then on the old
key is not needed for anything, and a copy of it that leaked opens nothing new.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from config import Settings
from crypto import KeyFileError, KeyRing
from crypto.keyring import add_key_to_file, retire_keys_from_file
from storage.engine import create_engine, create_session_factory
from storage.key_rotation import KeyRotationStore
from storage.migrate import upgrade_to_head
from storage.service_keys import ServiceKeyStore

# Running services re-read the key file every minute; wait for two of those, plus margin.
SETTLE_SECONDS = 180


class RotationRefused(KeyFileError):
    """Rotation cannot go ahead as asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What a rotate or retire did."""

    current_key: str
    rewrapped: int
    retired: tuple[str, ...] = ()


async def rotate(settings: Settings) -> RotationResult:
    """Add a new master key and re-wrap everything under it."""
    keyring = _file_keyring(settings)
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        # Store the purpose keys under the old key first, so their values carry over.
        await ServiceKeyStore(sessions).pin_all(keyring)
        assert keyring.path is not None  # noqa: S101 -- _file_keyring guarantees it
        add_key_to_file(keyring.path)
        keyring.refresh()
        rewrapped = await KeyRotationStore(sessions).rewrap(keyring)
        return RotationResult(keyring.current.key_id, rewrapped)
    finally:
        await engine.dispose()


async def retire(settings: Settings, now: float | None = None) -> RotationResult:
    """Remove every master key but the current one, once nothing needs them."""
    keyring = _file_keyring(settings)
    assert keyring.path is not None  # noqa: S101 -- _file_keyring guarantees it
    age = (now if now is not None else time.time()) - keyring.path.stat().st_mtime
    if age < SETTLE_SECONDS:
        raise RotationRefused(
            f"the key file changed {int(age)} s ago: wait {SETTLE_SECONDS - int(age)} s more, "
            "so every running instance has started sealing with the new key"
        )
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        await ServiceKeyStore(sessions).pin_all(keyring)
        store = KeyRotationStore(sessions)
        rewrapped = await store.rewrap(keyring)  # anything sealed before instances switched
        still_used = await store.key_ids_in_use() - {keyring.current.key_id}
        if still_used:
            raise RotationRefused(
                f"keys {', '.join(sorted(still_used))} are still in use; run the command again"
            )
        retired = retire_keys_from_file(keyring.path, {keyring.current.key_id})
        return RotationResult(keyring.current.key_id, rewrapped, tuple(retired))
    finally:
        await engine.dispose()


def _file_keyring(settings: Settings) -> KeyRing:
    if settings.master_key is not None:
        raise RotationRefused(
            "PORCHLIGHT_MASTER_KEY is set: rotation works on the key file in DATA_DIR "
            "(DATA_DIR/master.key), not on a key given in the environment"
        )
    return KeyRing.load(None, settings.data_dir)
