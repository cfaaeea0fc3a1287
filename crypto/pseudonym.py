"""Keyed pseudonyms: find a person's conversation again without storing who they are.

HMAC-SHA256 under a key derived from the master key for this purpose only. Without the key,
a pseudonym cannot be tested against a list of phone numbers, unlike a plain hash.
"""

from __future__ import annotations

import hashlib
import hmac

from crypto.keyring import KeyRing

PURPOSE = "pseudonym/v1"


class Pseudonymizer:
    """Turns (channel, address) into a stable, unlinkable pseudonym."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_keyring(cls, keyring: KeyRing) -> Pseudonymizer:
        """Use the ring's derived pseudonym key."""
        return cls(keyring.derive(PURPOSE))

    def pseudonym(self, channel: str, address: str) -> str:
        """Hex HMAC over a length-prefixed (channel, address), so no two pairs collide."""
        parts = [channel.encode("utf-8"), address.strip().encode("utf-8")]
        message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
