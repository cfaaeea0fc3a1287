"""Keyed pseudonyms: find a person's conversation again without storing who they are.

``pseudonym = hex(HMAC-SHA256(key, len(channel) | channel | len(address) | address))`` where
both parts are UTF-8, each length is 4 bytes big-endian, and the address has surrounding
whitespace stripped. The key is derived from the master key for this purpose only, so
without it a pseudonym cannot be tested against a list of phone numbers, as a plain hash
could. Channels are kept apart on purpose: the same number on SMS and on WhatsApp gives two
pseudonyms, because linking a person's channels is not ours to do.
"""

from __future__ import annotations

import hashlib
import hmac

from crypto.keyring import KeyRing

PURPOSE = "pseudonym/v1"
MIN_KEY_BYTES = 32


class Pseudonymizer:
    """Turns (channel, address) into a stable pseudonym that only the key holder can make."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            # A short key would make guessing every phone number's pseudonym practical.
            raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def from_keyring(cls, keyring: KeyRing) -> Pseudonymizer:
        """Use the ring's derived pseudonym key, never the master key itself."""
        return cls(keyring.derive(PURPOSE))

    def pseudonym(self, channel: str, address: str) -> str:
        """The pseudonym for an address on a channel (see the module docstring for the bytes).

        Only whitespace is normalised: providers send an address the same way every time,
        and guessing at equivalences (country codes, ``whatsapp:`` prefixes) could merge two
        people's conversations.
        """
        parts = [channel.encode("utf-8"), address.strip().encode("utf-8")]
        message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
        return hmac.digest(self._key, message, hashlib.sha256).hex()

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<redacted>)"
