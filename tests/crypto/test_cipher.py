import hashlib
import hmac

import pytest

from crypto import DecryptError, FieldCipher, KeyRing, Pseudonymizer, SealedText, field_aad

# AES-256-GCM test case 16 from McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
# the vectors NIST publishes with the GCM specification.
NIST_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
NIST_IV = bytes.fromhex("cafebabefacedbaddecaf888")
NIST_PLAINTEXT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
NIST_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
NIST_CIPHERTEXT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
NIST_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")

AAD = field_aad("messages", "body", "row-1")


def test_field_cipher_matches_the_nist_gcm_vector() -> None:
    cipher = FieldCipher(NIST_KEY, nonce_source=lambda _n: NIST_IV)
    sealed = cipher.encrypt(NIST_PLAINTEXT, NIST_AAD)
    assert sealed == b"\x01" + NIST_IV + NIST_CIPHERTEXT + NIST_TAG
    assert cipher.decrypt(sealed, NIST_AAD) == NIST_PLAINTEXT


def test_text_round_trips_and_nonces_are_fresh() -> None:
    cipher = FieldCipher(bytes(32))
    first = cipher.seal_text("I'm okay ✓", AAD)
    second = cipher.seal_text("I'm okay ✓", AAD)
    assert isinstance(first, SealedText)
    assert first != second
    assert cipher.open_text(first, AAD) == cipher.open_text(second, AAD) == "I'm okay ✓"


@pytest.mark.parametrize("position", [0, 1, 12, 13, 20, -16, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    cipher = FieldCipher(bytes(32))
    sealed = bytearray(cipher.seal_text("the meeting is at six", AAD))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptError):
        cipher.open_text(bytes(sealed), AAD)


@pytest.mark.parametrize("length", [0, 1, 12, 28])
def test_truncated_values_are_detected(length: int) -> None:
    cipher = FieldCipher(bytes(32))
    sealed = cipher.seal_text("the meeting is at six", AAD)
    with pytest.raises(DecryptError):
        cipher.open_text(sealed[:length], AAD)


@pytest.mark.parametrize(
    "elsewhere",
    [
        field_aad("messages", "body", "row-2"),
        field_aad("messages", "note", "row-1"),
        field_aad("notes", "body", "row-1"),
    ],
)
def test_a_value_moved_to_another_row_column_or_table_does_not_open(elsewhere: bytes) -> None:
    cipher = FieldCipher(bytes(32))
    sealed = cipher.seal_text("the meeting is at six", AAD)
    with pytest.raises(DecryptError):
        cipher.open_text(sealed, elsewhere)


def test_another_key_does_not_open() -> None:
    sealed = FieldCipher(bytes(32)).seal_text("x", AAD)
    with pytest.raises(DecryptError):
        FieldCipher(b"\x01" * 32).open_text(sealed, AAD)


def test_associated_data_parts_cannot_blur_together() -> None:
    assert field_aad("ab", "c", "d") != field_aad("a", "bc", "d")
    assert field_aad("a", "b", "cd") != field_aad("a", "bc", "d")


def test_keys_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        FieldCipher(bytes(16))


def test_sealed_values_do_not_print_their_bytes() -> None:
    sealed = FieldCipher(bytes(32)).seal_text("secret", AAD)
    assert repr(sealed) == f"SealedText(<{len(sealed)} bytes>)"


def test_pseudonyms_are_the_documented_hmac() -> None:
    key = bytes(range(32))
    expected = hmac.new(
        key,
        len(b"sms").to_bytes(4, "big")
        + b"sms"
        + len(b"+15550100").to_bytes(4, "big")
        + b"+15550100",
        hashlib.sha256,
    ).hexdigest()
    assert Pseudonymizer(key).pseudonym("sms", " +15550100 ") == expected


def test_pseudonyms_are_stable_per_channel_and_keyed() -> None:
    keyring = KeyRing.generate()
    pseudonyms = Pseudonymizer.from_keyring(keyring)
    assert pseudonyms.pseudonym("sms", "+15550100") == pseudonyms.pseudonym("sms", "+15550100")
    assert pseudonyms.pseudonym("sms", "+15550100") != pseudonyms.pseudonym("whatsapp", "+15550100")
    other = Pseudonymizer.from_keyring(KeyRing.generate())
    assert other.pseudonym("sms", "+15550100") != pseudonyms.pseudonym("sms", "+15550100")
    assert "15550100" not in pseudonyms.pseudonym("sms", "+15550100")


def test_the_pseudonym_key_is_not_the_master_key() -> None:
    keyring = KeyRing.generate()
    assert keyring.derive("pseudonym/v1") != keyring.current.secret
    assert keyring.derive("pseudonym/v1") != keyring.derive("something-else")
