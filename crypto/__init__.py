"""Encryption: master keys, per-conversation data keys, sealed fields and pseudonyms."""

from crypto.cipher import FieldCipher, SealedBytes, SealedText, field_aad
from crypto.columns import EncryptedBytes, EncryptedText
from crypto.datakeys import new_data_key, unwrap_data_key, wrap_data_key, wrapped_key_id
from crypto.errors import CryptoError, DecryptError, KeyFileError, PlaintextRefused, UnknownKeyError
from crypto.keyring import KeyRing, MasterKey
from crypto.pseudonym import Pseudonymizer
from crypto.receipts import ReceiptHasher

__all__ = [
    "CryptoError",
    "DecryptError",
    "EncryptedBytes",
    "EncryptedText",
    "FieldCipher",
    "KeyFileError",
    "KeyRing",
    "MasterKey",
    "PlaintextRefused",
    "Pseudonymizer",
    "ReceiptHasher",
    "SealedBytes",
    "SealedText",
    "UnknownKeyError",
    "field_aad",
    "new_data_key",
    "unwrap_data_key",
    "wrap_data_key",
    "wrapped_key_id",
]
