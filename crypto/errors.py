class CryptoError(Exception):
    """Base of every error raised by the crypto package."""


class DecryptError(CryptoError):
    """Ciphertext was tampered with, truncated, or sealed under another key or context."""


class UnknownKeyError(CryptoError):
    """The key id named by a value is not in the key ring."""


class KeyFileError(CryptoError):
    """The master key file or MASTER_KEY value is unusable; the message says how to fix it."""


class PlaintextRefused(TypeError):
    """An encrypted column was given something that is not sealed ciphertext."""
