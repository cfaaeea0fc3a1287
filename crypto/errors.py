"""The crypto package's errors: few and narrow, so callers handle causes, not libraries."""

from sqlalchemy.exc import DontWrapMixin


class CryptoError(Exception):
    """Base of every error raised by the crypto package."""


class DecryptError(CryptoError):
    """Ciphertext was tampered with, truncated, or sealed under another key or context."""


class UnknownKeyError(CryptoError):
    """The key id named by a value is not in the key ring."""


class KeyFileError(CryptoError):
    """The master key file or MASTER_KEY is unusable; the message says how to fix it."""


class PlaintextRefused(TypeError, DontWrapMixin):
    """An encrypted column was given something that is not sealed ciphertext.

    DontWrapMixin stops SQLAlchemy wrapping it in a StatementError, whose message quotes
    the statement's parameters: exactly the plaintext that must not reach a log.
    """
