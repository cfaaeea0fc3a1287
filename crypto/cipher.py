"""AES-256-GCM for single values, with associated data binding each value to its place.

Format of a sealed value: version byte 0x01 | 12-byte random nonce | ciphertext and tag.
The associated data (see :func:`field_aad`) names the table, column and row, so a value
copied to another row or column fails to open instead of silently meaning something else
(say, one person's reply address pasted into another's conversation).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError

VERSION = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_PREFIX = b"porchlight-field-v1"
_AAD_PART_MAX = 0xFFFF


class _Sealed(bytes):
    """Ciphertext that prints as its length, so logs and tracebacks carry no content."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} bytes>)"

    # bytes.__str__ is the C repr, which would ignore the override above (f-strings, %s).
    __str__ = __repr__


class SealedText(_Sealed):
    """Ciphertext of a text value: the only thing an EncryptedText column accepts."""


class SealedBytes(_Sealed):
    """Ciphertext of a binary value: the only thing an EncryptedBytes column accepts."""


def field_aad(table: str, column: str, row_id: str) -> bytes:
    """Associated data naming where a value lives.

    Each part is UTF-8 with a 2-byte big-endian length in front, after a versioned prefix, so
    ("ab", "c") and ("a", "bc") can never produce the same bytes.

    Raises:
        ValueError: a part is empty (a row without its id yet) or longer than 65535 bytes.
    """
    return _place(table, column) + _part("row_id", row_id)


@functools.cache
def _place(table: str, column: str) -> bytes:
    """The prefix, table and column: a message seals about ten values in a few places."""
    return _AAD_PREFIX + _part("table", table) + _part("column", column)


def _part(name: str, part: str) -> bytes:
    raw = part.encode("utf-8")
    if not raw or len(raw) > _AAD_PART_MAX:
        raise ValueError(f"field_aad {name} must be 1 to {_AAD_PART_MAX} bytes")
    return len(raw).to_bytes(2, "big") + raw


class FieldCipher:
    """Seals and opens values under one 256-bit key (a conversation's data key).

    Args:
        key: the 32-byte data key.
        nonce_source: returns n random bytes; replaceable only so known-answer tests can fix
            the nonce. Never reuse a nonce under one key in production: GCM then leaks both
            plaintexts and the authentication key.
    """

    def __init__(self, key: bytes, *, nonce_source: Callable[[int], bytes] = os.urandom) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"FieldCipher needs a {KEY_BYTES}-byte key, got {len(key)}")
        self._aead = AESGCM(key)
        self._nonce_source = nonce_source

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal bytes under a fresh nonce, bound to ``aad``."""
        nonce = self._nonce_source(NONCE_BYTES)
        if len(nonce) != NONCE_BYTES:
            # AESGCM accepts other lengths, but the format could not be parsed back.
            raise ValueError(f"nonce_source returned {len(nonce)} bytes, not {NONCE_BYTES}")
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Open bytes sealed by :meth:`encrypt` with the same ``aad``.

        Raises:
            DecryptError: for anything wrong, never a raw library error, so callers handle
                one exception whatever the cause.
        """
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[0] != VERSION:
            raise DecryptError("not a sealed value of a known version, or truncated")
        nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptError("value was altered or sealed under another key or place") from None

    def seal_text(self, text: str, aad: bytes) -> SealedText:
        """Seal a string for an EncryptedText column."""
        return SealedText(self.encrypt(text.encode("utf-8"), aad))

    def open_text(self, sealed: SealedText | bytes, aad: bytes) -> str:
        """Open an EncryptedText value.

        Raises:
            DecryptError: as :meth:`decrypt`, or the value was sealed from non-UTF-8 bytes.
        """
        try:
            return self.decrypt(sealed, aad).decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("sealed value is not text") from None

    def seal_bytes(self, data: bytes, aad: bytes) -> SealedBytes:
        """Seal bytes for an EncryptedBytes column."""
        return SealedBytes(self.encrypt(data, aad))

    def open_bytes(self, sealed: SealedBytes | bytes, aad: bytes) -> bytes:
        """Open an EncryptedBytes value.

        Raises:
            DecryptError: as :meth:`decrypt`.
        """
        return self.decrypt(sealed, aad)
