"""AES-256-GCM for single values, with associated data binding each value to its place.

Format of a sealed value: version byte 0x01 | 12-byte random nonce | ciphertext and tag.
The associated data (see :func:`field_aad`) names the table, column and row, so a value
copied to another row or column fails to open instead of silently meaning something else.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError

VERSION = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16


class SealedText(bytes):
    """Ciphertext of a text value: the only thing an EncryptedText column accepts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} bytes>)"


class SealedBytes(bytes):
    """Ciphertext of a binary value: the only thing an EncryptedBytes column accepts."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} bytes>)"


def field_aad(table: str, column: str, row_id: str) -> bytes:
    """Associated data naming where a value lives; length-prefixed so parts cannot blur."""
    parts = [part.encode("utf-8") for part in (table, column, row_id)]
    return b"porchlight-field-v1" + b"".join(len(p).to_bytes(2, "big") + p for p in parts)


class FieldCipher:
    """Seals and opens values under one 256-bit key (a conversation's data key)."""

    def __init__(self, key: bytes, *, nonce_source: Callable[[int], bytes] = os.urandom) -> None:
        if len(key) != 32:
            raise ValueError("FieldCipher needs a 32-byte key")
        self._aead = AESGCM(key)
        self._nonce_source = nonce_source

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal bytes; a fresh random nonce every time."""
        nonce = self._nonce_source(NONCE_BYTES)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Open bytes, or raise DecryptError for anything wrong (never a raw library error)."""
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[0] != VERSION:
            raise DecryptError("not a sealed value of a known version")
        nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptError("value was altered or sealed under another key or place") from None

    def seal_text(self, text: str, aad: bytes) -> SealedText:
        """Seal a string for an EncryptedText column."""
        return SealedText(self.encrypt(text.encode("utf-8"), aad))

    def open_text(self, sealed: bytes, aad: bytes) -> str:
        """Open an EncryptedText value."""
        try:
            return self.decrypt(sealed, aad).decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("sealed value is not text") from None

    def seal_bytes(self, data: bytes, aad: bytes) -> SealedBytes:
        """Seal bytes for an EncryptedBytes column."""
        return SealedBytes(self.encrypt(data, aad))

    def open_bytes(self, sealed: bytes, aad: bytes) -> bytes:
        """Open an EncryptedBytes value."""
        return self.decrypt(sealed, aad)
