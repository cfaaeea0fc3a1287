import base64
import hashlib
import hmac
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from crypto import (
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
SECRET = bytes(range(32))


def _line(secret: bytes) -> str:
    return f"{key_id_for(secret)} {base64.b64encode(secret).decode()}\n"


def _write_key_file(directory: Path, text: str) -> Path:
    path = KeyRing.key_file_path(directory)
    path.write_text(text)
    path.chmod(0o600)
    return path


# --- key ids and derived keys ----------------------------------------------------------


def test_key_ids_are_the_documented_hash() -> None:
    # "0b0c6757" was computed once with
    # hashlib.sha256(b"porchlight-key-id\x00" + bytes(range(32))).hexdigest()[:8] and frozen:
    # changing the derivation would orphan every wrapped data key.
    assert key_id_for(SECRET) == "0b0c6757"
    assert key_id_for(SECRET) == hashlib.sha256(b"porchlight-key-id\x00" + SECRET).hexdigest()[:8]
    assert MasterKey.from_secret(SECRET).key_id == "0b0c6757"


def _rfc5869_hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    # RFC 5869 written out with hmac, with no salt (a string of HashLen zeros).
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


@pytest.mark.parametrize(("purpose", "length"), [("pseudonym/v1", 32), ("receipt-salt/v1", 16)])
def test_derived_keys_are_hkdf_sha256_of_the_current_key(purpose: str, length: int) -> None:
    ring = KeyRing([MasterKey.from_secret(SECRET)], key_id_for(SECRET))
    expected = _rfc5869_hkdf_sha256(SECRET, b"porchlight/" + purpose.encode(), length)
    assert ring.derive(purpose, length) == expected


def test_derived_keys_are_separate_from_the_master_key_and_each_other() -> None:
    ring = KeyRing.generate()
    assert ring.derive("pseudonym/v1") != ring.current.secret
    assert ring.derive("pseudonym/v1") != ring.derive("something-else")
    assert len(ring.derive("pseudonym/v1")) == 32


# --- MasterKey and KeyRing ---------------------------------------------------------------


def test_master_keys_never_print_their_secret() -> None:
    key = MasterKey.from_secret(SECRET)
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert "redacted" in shown
        assert key.key_id in shown
        assert SECRET.hex() not in shown
        assert repr(SECRET) not in shown
        assert base64.b64encode(SECRET).decode() not in shown


def test_a_master_key_must_carry_its_own_id() -> None:
    with pytest.raises(ValueError, match="not derived"):
        MasterKey("deadbeef", SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKey(key_id_for(bytes(16)), bytes(16))
    with pytest.raises(KeyFileError, match="32 bytes"):
        MasterKey.from_secret(bytes(31))


def test_a_ring_knows_its_keys_and_refuses_unknown_ids() -> None:
    old, new = MasterKey.from_secret(os.urandom(32)), MasterKey.from_secret(os.urandom(32))
    ring = KeyRing([old, new], new.key_id)
    assert ring.current is new
    assert ring.get(old.key_id) is old
    assert ring.key_ids == (old.key_id, new.key_id)
    with pytest.raises(UnknownKeyError, match="'00000000'"):
        ring.get("00000000")
    with pytest.raises(UnknownKeyError):
        KeyRing([old], new.key_id)


def test_generated_rings_are_random() -> None:
    assert KeyRing.generate().current != KeyRing.generate().current


# --- the key file ------------------------------------------------------------------------


def test_first_run_creates_a_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    first = KeyRing.load(None, data_dir)

    key_file = KeyRing.key_file_path(data_dir)
    assert key_file == data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert [p.name for p in data_dir.iterdir()] == ["master.key"]  # no temporary left over
    second = KeyRing.load(None, data_dir)
    assert second.current == first.current
    assert second.key_ids == (first.current.key_id,)


def test_a_new_key_file_is_in_the_documented_format(tmp_path: Path) -> None:
    ring = KeyRing.load(None, tmp_path)
    lines = KeyRing.key_file_path(tmp_path).read_text().splitlines()
    assert all(line.startswith("#") for line in lines[:-1])
    assert lines[-1] == _line(ring.current.secret).rstrip("\n")


def test_an_existing_data_dir_keeps_the_operators_permissions(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    KeyRing.load(None, tmp_path)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o750
    assert stat.S_IMODE(KeyRing.key_file_path(tmp_path).stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o610, 0o601, 0o660])
def test_a_key_file_others_can_reach_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    KeyRing.load(None, tmp_path)
    key_file = KeyRing.key_file_path(tmp_path)
    key_file.chmod(mode)
    with pytest.raises(KeyFileError, match=re.escape(f"run: chmod 600 {key_file}")):
        KeyRing.load(None, tmp_path)
    key_file.chmod(0o600)
    KeyRing.load(None, tmp_path)


def test_a_read_only_key_file_is_accepted(tmp_path: Path) -> None:
    first = KeyRing.load(None, tmp_path)
    KeyRing.key_file_path(tmp_path).chmod(0o400)
    assert KeyRing.load(None, tmp_path).current == first.current


def test_the_last_key_in_the_file_is_current_and_older_ones_still_open(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    _write_key_file(tmp_path, f"# rotated\n{_line(old)}\n   \n{_line(new)}")
    old_ring = KeyRing([MasterKey.from_secret(old)], key_id_for(old))
    wrapped_by_old = wrap_data_key(old_ring, b"k" * 32, AAD)

    ring = KeyRing.load(None, tmp_path)
    assert ring.current.key_id == key_id_for(new)
    assert ring.key_ids == (key_id_for(old), key_id_for(new))
    assert unwrap_data_key(ring, wrapped_by_old, AAD) == b"k" * 32
    assert wrapped_key_id(wrap_data_key(ring, b"k" * 32, AAD)) == key_id_for(new)


def test_key_lines_may_use_urlsafe_unpadded_base64(tmp_path: Path) -> None:
    secret = bytes([0xFB, 0xEF, 0xFF] * 10 + [0xFE, 0xFF])  # encodes with + / and =
    urlsafe = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    _write_key_file(tmp_path, f"{key_id_for(secret)} {urlsafe}\n")
    assert KeyRing.load(None, tmp_path).current.secret == secret


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("garbage\n", "line 1: expected"),
        ("# ok\nabc def ghi\n", "line 2: expected"),
        (f"# ok\n\n{key_id_for(SECRET)}\n", "line 3: expected"),
        (f"{key_id_for(bytes(16))} {base64.b64encode(bytes(16)).decode()}\n", "line 1: expected"),
        (f"{key_id_for(SECRET)} not*base64\n", "line 1: expected"),
        (f"deadbeef {base64.b64encode(SECRET).decode()}\n", "line 1: key id does not match"),
        (
            f"{_line(SECRET)}{key_id_for(SECRET)[::-1]} {base64.b64encode(SECRET).decode()}\n",
            "line 2: key id does not match",
        ),
        ("# nothing here\n\n", "holds no key"),
        ("", "holds no key"),
    ],
)
def test_a_malformed_key_file_is_refused_naming_the_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    _write_key_file(tmp_path, text)
    with pytest.raises(KeyFileError, match=problem):
        KeyRing.load(None, tmp_path)


def test_a_key_file_that_is_not_ascii_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = KeyRing.key_file_path(tmp_path)
    path.write_bytes(f"# ok\n{_line(SECRET)}# café\n".encode())
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="line 3: not ASCII"):
        KeyRing.load(None, tmp_path)


def test_key_file_errors_never_quote_the_key(tmp_path: Path) -> None:
    encoded = base64.b64encode(SECRET).decode()
    _write_key_file(tmp_path, f"deadbeef {encoded}\n")
    with pytest.raises(KeyFileError) as caught:
        KeyRing.load(None, tmp_path)
    assert encoded not in str(caught.value)
    assert encoded[:10] not in str(caught.value)


def test_a_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    KeyRing.key_file_path(tmp_path).mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        KeyRing.load(None, tmp_path)


def test_a_data_dir_that_cannot_hold_the_key_file_is_a_key_file_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(KeyFileError, match="cannot create the key file"):
        KeyRing.load(None, blocker / "data")


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    start = threading.Barrier(8)
    key_ids: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        start.wait()
        try:
            key_ids.append(KeyRing.load(None, data_dir).current.key_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(key_ids) == 8
    assert len(set(key_ids)) == 1
    assert [p.name for p in data_dir.iterdir()] == ["master.key"]


def test_without_hard_links_the_key_file_is_still_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(_source: object, _target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first = KeyRing.load(None, tmp_path)
    assert stat.S_IMODE(KeyRing.key_file_path(tmp_path).stat().st_mode) == 0o600
    assert KeyRing.load(None, tmp_path).current == first.current
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


# --- MASTER_KEY --------------------------------------------------------------------------

# 0xfb 0xef 0xff encodes as "++//" in standard base64 and "--__" in the URL-safe alphabet,
# and 32 bytes need one "=" of padding, so every variant below really differs.
ALPHABET_SECRET = bytes([0xFB, 0xEF, 0xFF] * 10 + [0xFE, 0xFF])


@pytest.mark.parametrize(
    "form",
    [
        base64.b64encode(ALPHABET_SECRET).decode(),
        base64.b64encode(ALPHABET_SECRET).decode().rstrip("="),
        base64.urlsafe_b64encode(ALPHABET_SECRET).decode(),
        base64.urlsafe_b64encode(ALPHABET_SECRET).decode().rstrip("="),
    ],
    ids=["standard", "standard-unpadded", "urlsafe", "urlsafe-unpadded"],
)
def test_a_master_key_from_settings_is_used_and_no_file_is_written(
    tmp_path: Path, form: str
) -> None:
    ring = KeyRing.load(form, tmp_path)
    assert ring.current.secret == ALPHABET_SECRET
    assert ring.key_ids == (key_id_for(ALPHABET_SECRET),)
    assert not KeyRing.key_file_path(tmp_path).exists()


def test_a_master_key_from_settings_wins_over_a_key_file(tmp_path: Path) -> None:
    _write_key_file(tmp_path, _line(os.urandom(32)))
    ring = KeyRing.load(base64.b64encode(SECRET).decode(), tmp_path)
    assert ring.key_ids == (key_id_for(SECRET),)


@pytest.mark.parametrize(
    "form",
    [
        base64.b64encode(bytes(16)).decode(),
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "not base64 at all!",
        "",
    ],
    ids=["16-bytes", "31-bytes", "33-bytes", "not-base64", "empty"],
)
def test_a_master_key_that_is_not_32_bytes_is_refused_clearly(tmp_path: Path, form: str) -> None:
    with pytest.raises(KeyFileError, match=r"MASTER_KEY must be base64 .* of exactly 32 bytes"):
        KeyRing.load(form, tmp_path)
    assert not KeyRing.key_file_path(tmp_path).exists()


def test_a_bad_master_key_is_never_quoted(tmp_path: Path) -> None:
    almost = base64.b64encode(os.urandom(31)).decode()
    with pytest.raises(KeyFileError) as caught:
        KeyRing.load(almost, tmp_path)
    assert almost not in str(caught.value)


def test_a_loaded_ring_wraps_and_unwraps(tmp_path: Path) -> None:
    ring = KeyRing.load(None, tmp_path)
    data_key = new_data_key()
    reloaded = KeyRing.load(None, tmp_path)
    assert unwrap_data_key(reloaded, wrap_data_key(ring, data_key, AAD), AAD) == data_key
