"""Master keys, identified by a short id so values can say which key sealed them.

The key file (``DATA_DIR/master.key``) is text, one key per line::

    # comments are allowed
    <key id> <base64 of 32 bytes>

The last line is the current key; earlier lines stay usable for unwrapping, so rotating a
key means appending a line and re-wrapping the data keys. The file is created with mode
0600 on first run and refused if group or others can read it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config import decode_master_key
from crypto.errors import KeyFileError, UnknownKeyError

KEY_FILE_NAME = "master.key"
KEY_BYTES = 32


def key_id_for(secret: bytes) -> str:
    """A short public name for a key: 8 hex digits of a domain-separated hash."""
    return hashlib.sha256(b"porchlight-key-id\x00" + secret).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One master key and its id."""

    key_id: str
    secret: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> MasterKey:
        """Name a 32-byte key by its derived id."""
        if len(secret) != KEY_BYTES:
            raise KeyFileError(f"a master key must be {KEY_BYTES} bytes, got {len(secret)}")
        return cls(key_id_for(secret), secret)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r}, secret=<redacted>)"


class KeyRing:
    """The master keys the service can use; the current one seals, any of them opens."""

    def __init__(self, keys: Sequence[MasterKey], current_id: str) -> None:
        self._keys = {key.key_id: key for key in keys}
        if current_id not in self._keys:
            raise UnknownKeyError(current_id)
        self._current_id = current_id

    @property
    def current(self) -> MasterKey:
        """The key new values are sealed with."""
        return self._keys[self._current_id]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id in the ring."""
        return tuple(self._keys)

    def get(self, key_id: str) -> MasterKey:
        """The key with this id, or UnknownKeyError."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(f"master key {key_id!r} is not in the key ring") from None

    def derive(self, purpose: str, length: int = KEY_BYTES) -> bytes:
        """A key for one purpose (e.g. pseudonyms), separate from the key that wraps data keys."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=None,
            info=b"porchlight/" + purpose.encode(),
        ).derive(self.current.secret)

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring with one fresh random key (tests, throwaway demos)."""
        key = MasterKey.from_secret(os.urandom(KEY_BYTES))
        return cls([key], key.key_id)

    @staticmethod
    def key_file_path(data_dir: Path) -> Path:
        """Where the key file lives."""
        return data_dir / KEY_FILE_NAME

    @classmethod
    def load(cls, master_key: str | None, data_dir: Path) -> KeyRing:
        """The ring from MASTER_KEY when given, else from the key file (created if missing)."""
        if master_key is not None:
            secret = decode_master_key(master_key)
            if secret is None:
                raise KeyFileError("PORCHLIGHT_MASTER_KEY must be base64 of exactly 32 bytes")
            key = MasterKey.from_secret(secret)
            return cls([key], key.key_id)
        path = cls.key_file_path(data_dir)
        if not path.exists():
            _create_key_file(path)
        return cls._from_file(path)

    @classmethod
    def _from_file(cls, path: Path) -> KeyRing:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{path} can be read by other users (mode {stat.filemode(mode)}); "
                f"run: chmod 600 {path}"
            )
        try:
            lines = path.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read {path}: {exc}") from None
        keys: list[MasterKey] = []
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            secret = decode_master_key(parts[1]) if len(parts) == 2 else None
            if secret is None:
                raise KeyFileError(f"{path} line {number}: expected '<key id> <base64 key>'")
            key = MasterKey.from_secret(secret)
            if key.key_id != parts[0]:
                raise KeyFileError(f"{path} line {number}: key id does not match the key")
            keys.append(key)
        if not keys:
            raise KeyFileError(f"{path} holds no key")
        return cls(keys, keys[-1].key_id)


def _create_key_file(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    key = MasterKey.from_secret(os.urandom(KEY_BYTES))
    line = f"{key.key_id} {base64.b64encode(key.secret).decode()}\n"
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("# Porchlight master key. Back it up apart from the database.\n")
        handle.write(line)
