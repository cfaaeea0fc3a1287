import base64
import os
import stat
from pathlib import Path

import pytest

from crypto import (
    DecryptError,
    KeyFileError,
    KeyRing,
    MasterKey,
    UnknownKeyError,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from crypto.keyring import key_id_for

AAD = b"conversation:1"


def test_key_ids_are_the_documented_hash() -> None:
    import hashlib

    secret = bytes(range(32))
    assert key_id_for(secret) == hashlib.sha256(b"porchlight-key-id\x00" + secret).hexdigest()[:8]
    assert MasterKey.from_secret(secret).key_id == key_id_for(secret)


def test_first_run_creates_a_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = KeyRing.load(None, data_dir)

    key_file = KeyRing.key_file_path(data_dir)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    second = KeyRing.load(None, data_dir)
    assert second.current.key_id == first.current.key_id
    assert second.current.secret == first.current.secret


def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    KeyRing.load(None, tmp_path)
    key_file = KeyRing.key_file_path(tmp_path)
    key_file.chmod(0o644)
    with pytest.raises(KeyFileError, match=f"chmod 600 {key_file}"):
        KeyRing.load(None, tmp_path)


def _write_key_file(directory: Path, text: str) -> None:
    path = KeyRing.key_file_path(directory)
    path.write_text(text)
    path.chmod(0o600)


def test_the_last_key_in_the_file_is_current_and_older_ones_still_open(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    _write_key_file(
        tmp_path,
        f"# rotated\n{key_id_for(old)} {base64.b64encode(old).decode()}\n\n"
        f"{key_id_for(new)} {base64.b64encode(new).decode()}\n",
    )
    old_ring = KeyRing([MasterKey.from_secret(old)], key_id_for(old))
    wrapped_by_old = wrap_data_key(old_ring, b"k" * 32, AAD)

    ring = KeyRing.load(None, tmp_path)
    assert ring.current.key_id == key_id_for(new)
    assert ring.key_ids == (key_id_for(old), key_id_for(new))
    assert unwrap_data_key(ring, wrapped_by_old, AAD) == b"k" * 32
    assert wrapped_key_id(wrap_data_key(ring, b"k" * 32, AAD)) == key_id_for(new)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("garbage\n", "line 1: expected"),
        ("# ok\nabc def ghi\n", "line 2: expected"),
        (f"deadbeef {base64.b64encode(bytes(32)).decode()}\n", "line 1: key id does not match"),
        ("# nothing here\n", "holds no key"),
    ],
)
def test_a_malformed_key_file_is_refused_naming_the_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    _write_key_file(tmp_path, text)
    with pytest.raises(KeyFileError, match=problem):
        KeyRing.load(None, tmp_path)


def test_a_master_key_from_settings_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    secret = os.urandom(32)
    for form in (
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ):
        ring = KeyRing.load(form, tmp_path)
        assert ring.current.secret == secret
    assert not KeyRing.key_file_path(tmp_path).exists()


def test_a_master_key_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="32 bytes"):
        KeyRing.load(base64.b64encode(bytes(16)).decode(), tmp_path)


def test_data_keys_round_trip_and_are_bound_to_their_owner() -> None:
    ring = KeyRing.generate()
    data_key = new_data_key()
    wrapped = wrap_data_key(ring, data_key, AAD)
    assert len(data_key) == 32
    assert data_key not in wrapped
    assert unwrap_data_key(ring, wrapped, AAD) == data_key
    with pytest.raises(DecryptError):
        unwrap_data_key(ring, wrapped, b"conversation:2")


@pytest.mark.parametrize("position", [0, 2, 12, -1])
def test_a_tampered_wrapped_key_is_detected(position: int) -> None:
    ring = KeyRing.generate()
    wrapped = bytearray(wrap_data_key(ring, new_data_key(), AAD))
    wrapped[position] ^= 0x01
    with pytest.raises((DecryptError, UnknownKeyError)):
        unwrap_data_key(ring, bytes(wrapped), AAD)


def test_a_key_wrapped_under_an_unknown_master_key_says_so() -> None:
    wrapped = wrap_data_key(KeyRing.generate(), new_data_key(), AAD)
    with pytest.raises(UnknownKeyError):
        unwrap_data_key(KeyRing.generate(), wrapped, AAD)


def test_master_keys_never_print_their_secret() -> None:
    key = MasterKey.from_secret(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(key)
    assert "redacted" in repr(key)
