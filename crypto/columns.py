"""SQLAlchemy column types that only ever store ciphertext.

Encryption happens in the store, not in the type: the key is per conversation and the
associated data needs the row id, neither of which a TypeDecorator can see. What the type
guarantees is that forgetting is impossible: binding anything but a sealed value (a str,
plain bytes, or the other sealed type) raises PlaintextRefused before a byte reaches the
database, in an INSERT, an UPDATE or a WHERE clause alike, and mypy flags it too, since the
mapped attribute is typed SealedText or SealedBytes. The refusal names only the types, never
the value, because the value is exactly what must not reach a log.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect

from crypto.cipher import SealedBytes, SealedText
from crypto.errors import PlaintextRefused

S = TypeVar("S", SealedText, SealedBytes)


class _SealedColumn(TypeDecorator[S]):
    """A binary column that accepts only one sealed type and returns it still sealed."""

    impl = LargeBinary
    cache_ok = True
    sealed_type: ClassVar[type[bytes]]

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Let only the sealed type through."""
        if value is None:
            return None
        if not isinstance(value, self.sealed_type):
            raise PlaintextRefused(
                f"{type(self).__name__} needs {self.sealed_type.__name__}, "
                f"got {type(value).__name__}"
            )
        return bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> S | None:
        """Hand back ciphertext, still sealed."""
        return None if value is None else cast(S, self.sealed_type(value))


class EncryptedText(_SealedColumn[SealedText]):
    """A column holding a text value sealed by FieldCipher.seal_text."""

    sealed_type = SealedText
    cache_ok = True  # SQLAlchemy reads it from each class, not from the base


class EncryptedBytes(_SealedColumn[SealedBytes]):
    """A column holding binary data sealed by FieldCipher.seal_bytes."""

    sealed_type = SealedBytes
    cache_ok = True
