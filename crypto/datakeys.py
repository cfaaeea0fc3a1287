"""Per-conversation data keys, wrapped by a master key.

Deleting a conversation's wrapped key makes everything sealed under it unreadable
(crypto-shredding), even in backups. Wrapped format: version 0x01 | key-id length | key id
(ASCII) | 12-byte nonce | ciphertext and tag of the 32-byte data key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError
from crypto.keyring import KeyRing

VERSION = 0x01
NONCE_BYTES = 12
DATA_KEY_BYTES = 32


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(DATA_KEY_BYTES)


def wrap_data_key(keyring: KeyRing, data_key: bytes, aad: bytes) -> bytes:
    """Seal a data key under the current master key."""
    master = keyring.current
    key_id = master.key_id.encode("ascii")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(master.secret).encrypt(nonce, data_key, aad)
    return bytes([VERSION, len(key_id)]) + key_id + nonce + sealed


def wrapped_key_id(wrapped: bytes) -> str:
    """The id of the master key that wrapped this data key."""
    if len(wrapped) < 2 or wrapped[0] != VERSION or len(wrapped) < 2 + wrapped[1]:
        raise DecryptError("not a wrapped data key of a known version")
    try:
        return wrapped[2 : 2 + wrapped[1]].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("wrapped data key has a malformed key id") from None


def unwrap_data_key(keyring: KeyRing, wrapped: bytes, aad: bytes) -> bytes:
    """Open a wrapped data key; UnknownKeyError if its master key is not in the ring."""
    key_id = wrapped_key_id(wrapped)
    master = keyring.get(key_id)
    body = wrapped[2 + wrapped[1] :]
    nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
    if len(nonce) != NONCE_BYTES:
        raise DecryptError("wrapped data key is truncated")
    try:
        data_key = AESGCM(master.secret).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise DecryptError("wrapped data key was altered or belongs elsewhere") from None
    if len(data_key) != DATA_KEY_BYTES:
        raise DecryptError("wrapped data key has the wrong length")
    return data_key
