import pytest

from crypto import (
    DecryptError,
    KeyRing,
    MasterKey,
    UnknownKeyError,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)

AAD = b"conversation:1"
SECRET = bytes(range(32))
KEY_ID = "0b0c6757"  # see test_keyring.test_key_ids_are_the_documented_hash
# version | id length | id | nonce | data key | tag
WRAPPED_LENGTH = 1 + 1 + 8 + 12 + 32 + 16


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([MasterKey.from_secret(SECRET)], KEY_ID)


def test_data_keys_are_fresh_and_256_bits() -> None:
    first, second = new_data_key(), new_data_key()
    assert len(first) == len(second) == 32
    assert first != second


def test_the_wrapped_format_is_self_describing(ring: KeyRing) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), AAD)
    assert len(wrapped) == WRAPPED_LENGTH
    assert wrapped[:10] == b"\x01\x08" + KEY_ID.encode()
    assert wrapped_key_id(wrapped) == KEY_ID


def test_data_keys_round_trip_and_are_bound_to_their_owner(ring: KeyRing) -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(ring, data_key, AAD)
    assert data_key not in wrapped
    assert wrap_data_key(ring, data_key, AAD) != wrapped  # a fresh nonce every time
    assert unwrap_data_key(ring, wrapped, AAD) == data_key
    with pytest.raises(DecryptError):
        unwrap_data_key(ring, wrapped, b"conversation:2")


TAMPER_POSITIONS = {
    "version": (0, DecryptError),
    "id-length": (1, DecryptError),
    "nonce": (10, DecryptError),
    "ciphertext": (30, DecryptError),
    "tag-first": (-16, DecryptError),
    "tag-last": (-1, DecryptError),
    "key-id-to-non-hex": (2, DecryptError),  # "0b0c6757" -> "\x00b0c6757": damage
    "key-id-to-other-hex": (3, UnknownKeyError),  # "0b0c6757" -> "0c0c6757": another key
}


@pytest.mark.parametrize(
    ("position", "error"), list(TAMPER_POSITIONS.values()), ids=list(TAMPER_POSITIONS)
)
def test_a_tampered_wrapped_key_is_detected(
    ring: KeyRing, position: int, error: type[Exception]
) -> None:
    wrapped = bytearray(wrap_data_key(ring, new_data_key(), AAD))
    wrapped[position] ^= 0x30 if position == 2 else 0x01
    with pytest.raises(error):
        unwrap_data_key(ring, bytes(wrapped), AAD)


def test_every_damaged_byte_is_a_decrypt_error(ring: KeyRing) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), AAD)
    for position in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x80
        with pytest.raises(DecryptError):
            unwrap_data_key(ring, bytes(tampered), AAD)


@pytest.mark.parametrize("length", [0, 1, 2, 5, 10, 21, 22, 37, WRAPPED_LENGTH - 1])
def test_a_truncated_wrapped_key_is_a_decrypt_error(ring: KeyRing, length: int) -> None:
    wrapped = wrap_data_key(ring, new_data_key(), AAD)
    with pytest.raises(DecryptError):
        unwrap_data_key(ring, wrapped[:length], AAD)


def test_a_key_wrapped_under_an_unknown_master_key_says_so(ring: KeyRing) -> None:
    other = KeyRing.generate()
    wrapped = wrap_data_key(other, new_data_key(), AAD)
    with pytest.raises(UnknownKeyError, match=other.current.key_id):
        unwrap_data_key(ring, wrapped, AAD)


def test_a_wrapped_key_relabelled_to_another_master_key_does_not_open() -> None:
    first, second = MasterKey.from_secret(SECRET), MasterKey.from_secret(bytes(32))
    ring = KeyRing([first, second], first.key_id)
    wrapped = wrap_data_key(ring, new_data_key(), AAD)
    relabelled = wrapped.replace(first.key_id.encode(), second.key_id.encode(), 1)
    assert wrapped_key_id(relabelled) == second.key_id
    with pytest.raises(DecryptError):
        unwrap_data_key(ring, relabelled, AAD)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_only_256_bit_data_keys_are_wrapped(ring: KeyRing, length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(ring, bytes(length), AAD)


@pytest.mark.parametrize(
    "wrapped",
    [
        b"",
        b"\x01",
        b"\x02\x08" + KEY_ID.encode(),
        b"\x01\x00",
        b"\x01\x08abc",
        b"\x01\x08\xff\xfe" + KEY_ID[2:].encode(),
        b"\x01\x08" + KEY_ID.upper().encode(),
        b"\x01\x09" + KEY_ID.encode() + b"0",
    ],
    ids=[
        "empty",
        "version-only",
        "unknown-version",
        "no-id",
        "truncated-id",
        "non-ascii-id",
        "upper-case-id",
        "over-long-id",
    ],
)
def test_wrapped_key_id_refuses_what_is_not_a_wrapped_key(wrapped: bytes) -> None:
    with pytest.raises(DecryptError):
        wrapped_key_id(wrapped)
