import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from crypto import DecryptError, FieldCipher, SealedBytes, SealedText, field_aad

AAD = field_aad("messages", "body", "row-1")
KEY = bytes(range(32))
MESSAGE = "the meeting is at six"


def _fixed_nonce(nonce: bytes):
    def source(n: int) -> bytes:
        assert n == len(nonce)
        return nonce

    return source


# Test cases 13, 14 and 16 (the 256-bit ones) from McGrew & Viega, "The Galois/Counter Mode of
# Operation (GCM)", the vectors NIST publishes with the GCM specification. Copied from the
# paper, not computed with the library under test.
NIST_VECTORS = {
    "case-13-empty": (
        "00" * 32,
        "00" * 12,
        "",
        "",
        "",
        "530f8afbc74536b9a963b4f1c4cb738b",
    ),
    "case-14-one-block": (
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    "case-16-with-aad": (
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
}


@pytest.mark.parametrize(
    ("key", "iv", "plaintext", "aad", "ciphertext", "tag"),
    list(NIST_VECTORS.values()),
    ids=list(NIST_VECTORS),
)
def test_field_cipher_matches_the_nist_gcm_vectors(
    key: str, iv: str, plaintext: str, aad: str, ciphertext: str, tag: str
) -> None:
    cipher = FieldCipher(bytes.fromhex(key), nonce_source=_fixed_nonce(bytes.fromhex(iv)))
    sealed = cipher.encrypt(bytes.fromhex(plaintext), bytes.fromhex(aad))
    assert sealed.hex() == "01" + iv + ciphertext + tag
    assert cipher.decrypt(sealed, bytes.fromhex(aad)) == bytes.fromhex(plaintext)


def test_field_aad_is_the_documented_length_prefixed_encoding() -> None:
    assert field_aad("messages", "body", "row-1") == (
        b"porchlight-field-v1\x00\x08messages\x00\x04body\x00\x05row-1"
    )


def test_seal_text_is_gcm_over_utf8_with_the_field_aad() -> None:
    # Expected bytes come from cryptography's low-level Cipher/GCM interface, a separate
    # code path from the AESGCM one FieldCipher uses, so the format is checked end to end.
    nonce = bytes(range(100, 112))
    encryptor = Cipher(algorithms.AES(KEY), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(AAD)
    body = encryptor.update("call after 6 ✓".encode()) + encryptor.finalize()
    expected = b"\x01" + nonce + body + encryptor.tag

    cipher = FieldCipher(KEY, nonce_source=_fixed_nonce(nonce))
    assert cipher.seal_text("call after 6 ✓", AAD) == expected


def test_text_round_trips_and_nonces_are_fresh() -> None:
    cipher = FieldCipher(KEY)
    first = cipher.seal_text("I'm okay ✓", AAD)
    second = cipher.seal_text("I'm okay ✓", AAD)
    assert isinstance(first, SealedText)
    assert first != second
    assert first[1:13] != second[1:13]
    assert cipher.open_text(first, AAD) == cipher.open_text(second, AAD) == "I'm okay ✓"


def test_bytes_round_trip_as_sealed_bytes() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_bytes(b"\x00\xff" * 10, AAD)
    assert isinstance(sealed, SealedBytes)
    assert cipher.open_bytes(sealed, AAD) == b"\x00\xff" * 10


@given(text=st.text(), table=st.text(min_size=1), row=st.text(min_size=1))
def test_any_text_round_trips_in_any_place(text: str, table: str, row: str) -> None:
    cipher = FieldCipher(KEY)
    aad = field_aad(table, "body", row)
    assert cipher.open_text(cipher.seal_text(text, aad), aad) == text


TAMPER_POSITIONS = {
    "version": 0,
    "nonce-first": 1,
    "nonce-last": 12,
    "ciphertext-first": 13,
    "ciphertext-middle": 20,
    "tag-first": -16,
    "tag-last": -1,
}


@pytest.mark.parametrize("position", list(TAMPER_POSITIONS.values()), ids=list(TAMPER_POSITIONS))
def test_a_flipped_byte_is_detected(position: int) -> None:
    cipher = FieldCipher(KEY)
    sealed = bytearray(cipher.seal_text(MESSAGE, AAD))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptError):
        cipher.open_text(bytes(sealed), AAD)


def test_every_flipped_byte_is_detected() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_text(MESSAGE, AAD)
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(DecryptError):
            cipher.open_text(bytes(tampered), AAD)


@pytest.mark.parametrize("length", [0, 1, 13, 28, 29, 49])
def test_truncated_values_are_detected(length: int) -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_text(MESSAGE, AAD)
    assert len(sealed) == 50
    with pytest.raises(DecryptError):
        cipher.open_text(sealed[:length], AAD)


def test_an_extended_value_is_detected() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_text(MESSAGE, AAD)
    with pytest.raises(DecryptError):
        cipher.open_text(sealed + b"\x00", AAD)


@pytest.mark.parametrize(
    "elsewhere",
    [
        field_aad("messages", "body", "row-2"),
        field_aad("messages", "note", "row-1"),
        field_aad("notes", "body", "row-1"),
        b"",
    ],
    ids=["other-row", "other-column", "other-table", "no-aad"],
)
def test_a_value_moved_to_another_row_column_or_table_does_not_open(elsewhere: bytes) -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_text(MESSAGE, AAD)
    with pytest.raises(DecryptError):
        cipher.open_text(sealed, elsewhere)


def test_another_key_does_not_open() -> None:
    sealed = FieldCipher(KEY).seal_text("x", AAD)
    with pytest.raises(DecryptError):
        FieldCipher(bytes(32)).open_text(sealed, AAD)


def test_sealed_binary_that_is_not_utf8_is_a_decrypt_error_for_open_text() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal_bytes(b"\xff\xfe", AAD)
    with pytest.raises(DecryptError, match="not text"):
        cipher.open_text(sealed, AAD)


def test_associated_data_parts_cannot_blur_together() -> None:
    assert field_aad("ab", "c", "d") != field_aad("a", "bc", "d")
    assert field_aad("a", "b", "cd") != field_aad("a", "bc", "d")
    assert field_aad("a\x00", "b", "c") != field_aad("a", "\x00b", "c")


@given(
    first=st.tuples(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1)),
    second=st.tuples(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1)),
)
def test_field_aad_is_injective(first: tuple[str, str, str], second: tuple[str, str, str]) -> None:
    assert (field_aad(*first) == field_aad(*second)) == (first == second)


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [("", "body", "1"), ("messages", "", "1"), ("messages", "body", ""), ("x" * 65536, "b", "1")],
)
def test_field_aad_refuses_an_unnamed_or_oversized_place(
    table: str, column: str, row_id: str
) -> None:
    with pytest.raises(ValueError, match="1 to 65535 bytes"):
        field_aad(table, column, row_id)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_keys_must_be_256_bits(length: int) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        FieldCipher(bytes(length))


def test_a_nonce_source_of_the_wrong_length_is_refused() -> None:
    cipher = FieldCipher(KEY, nonce_source=lambda _n: bytes(16))
    with pytest.raises(ValueError, match="nonce_source"):
        cipher.encrypt(b"x", AAD)


@pytest.mark.parametrize("sealed_type", [SealedText, SealedBytes])
def test_sealed_values_never_print_their_bytes(sealed_type: type[bytes]) -> None:
    sealed = sealed_type(FieldCipher(KEY).encrypt(b"secret plan", AAD))
    expected = f"{sealed_type.__name__}(<{len(sealed)} bytes>)"
    as_object: object = sealed  # as a logger or an f-string sees it
    assert repr(sealed) == str(as_object) == f"{as_object}" == format(as_object) == expected
    assert repr(bytes(sealed))[2:-1] not in repr([sealed])


def test_sealed_text_and_sealed_bytes_are_distinct_types() -> None:
    assert not isinstance(SealedText(b"x"), SealedBytes)
    assert not isinstance(SealedBytes(b"x"), SealedText)
