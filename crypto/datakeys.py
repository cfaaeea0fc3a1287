"""Per-conversation data keys, wrapped by a master key.

Deleting a conversation's wrapped key makes everything sealed under it unreadable
(crypto-shredding), even in backups that still hold the rows. Wrapped format::

    0x01 | key-id length (1 byte) | key id (ASCII) | 12-byte nonce | AES-256-GCM(data key) + tag

The key id is in the clear so a ring with several keys (after rotation) knows which one to
use, and so rotation can find the data keys still wrapped under an old key without opening
them. It needs no authentication of its own: naming another key in the ring only means
trying a key that fails the tag check. The caller's associated data (which conversation the
key belongs to) is bound, so a wrapped key copied to another conversation does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError
from crypto.keyring import KeyRing, looks_like_key_id

VERSION = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(DATA_KEY_BYTES)


def wrap_data_key(keyring: KeyRing, data_key: bytes, aad: bytes) -> bytes:
    """Seal a data key under the current master key.

    Raises:
        ValueError: the data key is not 32 bytes (it could never be unwrapped).
    """
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key must be {DATA_KEY_BYTES} bytes, got {len(data_key)}")
    master = keyring.current
    key_id = master.key_id.encode("ascii")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(master.secret).encrypt(nonce, data_key, aad)
    return bytes([VERSION, len(key_id)]) + key_id + nonce + sealed


def wrapped_key_id(wrapped: bytes) -> str:
    """The id of the master key that wrapped this data key, read without opening it.

    Raises:
        DecryptError: the value is not a wrapped key of a known version, is truncated, or
            its key id is not of the form key ids have.
    """
    if len(wrapped) < 2 or wrapped[0] != VERSION:
        raise DecryptError("not a wrapped data key of a known version")
    end = 2 + wrapped[1]
    if len(wrapped) < end:
        raise DecryptError("wrapped data key is truncated")
    key_id = wrapped[2:end].decode("ascii", errors="replace")
    if not looks_like_key_id(key_id):
        # Damage, not a missing key: UnknownKeyError would send the operator hunting for one.
        raise DecryptError("wrapped data key has a malformed key id")
    return key_id


def unwrap_data_key(keyring: KeyRing, wrapped: bytes, aad: bytes) -> bytes:
    """Open a wrapped data key.

    Raises:
        UnknownKeyError: the well-formed key id it names is not in the ring (a lost or
            retired key, or an id altered into another valid-looking one).
        DecryptError: the value was altered, truncated, or belongs to another owner (aad).
    """
    key_id = wrapped_key_id(wrapped)
    body = wrapped[2 + len(key_id) :]
    if len(body) < NONCE_BYTES + TAG_BYTES:
        raise DecryptError("wrapped data key is truncated")
    master = keyring.get(key_id)
    nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
    try:
        data_key = AESGCM(master.secret).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise DecryptError("wrapped data key was altered or belongs elsewhere") from None
    if len(data_key) != DATA_KEY_BYTES:
        raise DecryptError("wrapped data key has the wrong length")
    return data_key
