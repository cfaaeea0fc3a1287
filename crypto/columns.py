"""SQLAlchemy column types that only ever store ciphertext.

Encryption happens in the store, not in the type: the key is per conversation and the
associated data needs the row id, neither of which a TypeDecorator can see. What the type
guarantees is that forgetting is impossible: binding anything but a sealed value (a str,
plain bytes) raises PlaintextRefused before a byte reaches the database, and mypy flags it
too, since the mapped attribute is typed SealedText or SealedBytes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect

from crypto.cipher import SealedBytes, SealedText
from crypto.errors import PlaintextRefused


class EncryptedText(TypeDecorator[SealedText]):
    """A column holding a text value sealed by FieldCipher.seal_text."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Let only SealedText through."""
        if value is None:
            return None
        if not isinstance(value, SealedText):
            raise PlaintextRefused(f"EncryptedText needs SealedText, got {type(value).__name__}")
        return bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> SealedText | None:
        """Hand back ciphertext, still sealed."""
        return None if value is None else SealedText(value)


class EncryptedBytes(TypeDecorator[SealedBytes]):
    """A column holding binary data sealed by FieldCipher.seal_bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Let only SealedBytes through."""
        if value is None:
            return None
        if not isinstance(value, SealedBytes):
            raise PlaintextRefused(f"EncryptedBytes needs SealedBytes, got {type(value).__name__}")
        return bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> SealedBytes | None:
        """Hand back ciphertext, still sealed."""
        return None if value is None else SealedBytes(value)
