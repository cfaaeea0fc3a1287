r"""Master keys, identified by a short id so values can say which key sealed them.

The key file (``DATA_DIR/master.key``) is ASCII text, one key per line::

    # whole-line comments and blank lines are allowed
    <key id> <base64 of 32 bytes>

The key id is the first 8 hex digits of ``SHA-256(b"porchlight-key-id\x00" + secret)``, so a
line whose id does not match its key (a paste error, a damaged file) is caught on load rather
than when a conversation fails to open. The last key line is the current key; earlier lines
stay usable for unwrapping, so rotating a key means appending a line and re-wrapping the
data keys. The file is created with mode 0600 on first run and refused if group or others
have any access to it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
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
KEY_ID_LENGTH = 8
_KEY_FILE_HEADER = (
    "# Porchlight master keys, one '<key id> <base64 key>' per line; the last is current.\n"
    "# Losing this file makes every stored conversation unreadable: back it up apart from\n"
    "# the database.\n"
)


def looks_like_key_id(text: str) -> bool:
    """Whether text has the form of a key id, so corrupted ids are told from unknown ones."""
    return len(text) == KEY_ID_LENGTH and all(c in "0123456789abcdef" for c in text)


def key_id_for(secret: bytes) -> str:
    """A short public name for a key.

    Domain-separated so the id can never equal a hash some other part of the system makes of
    the same bytes; 8 hex digits are plenty to tell a handful of rotated keys apart.
    """
    return hashlib.sha256(b"porchlight-key-id\x00" + secret).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One master key and its id.

    Construction checks that the id belongs to the secret, so a ring can never hold a key
    under a name that a wrapped data key would resolve to the wrong secret.
    """

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a master key must be {KEY_BYTES} bytes, got {len(self.secret)}")
        if self.key_id != key_id_for(self.secret):
            raise ValueError(f"key id {self.key_id!r} was not derived from this key")

    @classmethod
    def from_secret(cls, secret: bytes) -> MasterKey:
        """Name a 32-byte key by its derived id.

        Raises:
            KeyFileError: the secret is not 32 bytes (it came from MASTER_KEY or the key file).
        """
        if len(secret) != KEY_BYTES:
            raise KeyFileError(f"a master key must be {KEY_BYTES} bytes, got {len(secret)}")
        return cls(key_id_for(secret), secret)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r}, secret=<redacted>)"


class KeyRing:
    """The master keys the service can use; the current one seals, any of them opens.

    A ring loaded from the key file follows the file: :meth:`refresh` re-reads it, and a
    value sealed under a key the ring does not know yet makes it look once more, so a
    running service picks up a key that ``porchlight keys rotate`` just added.
    """

    def __init__(
        self, keys: Sequence[MasterKey], current_id: str, path: Path | None = None
    ) -> None:
        self._path = path
        self._pinned: dict[str, bytes] = {}
        self._set_keys(keys, current_id)

    def _set_keys(self, keys: Sequence[MasterKey], current_id: str) -> None:
        found = {key.key_id: key for key in keys}
        if current_id not in found:
            raise UnknownKeyError(f"the current key {current_id!r} is not among the ring's keys")
        self._keys = found
        self._current_id = current_id

    @property
    def path(self) -> Path | None:
        """The key file this ring follows; None for MASTER_KEY or a generated ring."""
        return self._path

    def refresh(self) -> None:
        """Re-read the key file: pick up a rotated-in key, drop a retired one."""
        if self._path is not None:
            keys = _read_key_file(self._path)
            self._set_keys(keys, keys[-1].key_id)

    def pin(self, purpose: str, value: bytes) -> None:
        """Fix what :meth:`derive` returns for a purpose (the value kept in the database).

        Derived keys (pseudonyms, receipt digests, …) must outlive a key rotation:
        returning people must still be recognised and saved receipt codes must still work.
        So each is derived once, stored wrapped like a data key, and pinned at start.
        """
        if len(value) != KEY_BYTES:
            raise ValueError(f"a pinned {purpose!r} key must be {KEY_BYTES} bytes")
        self._pinned[purpose] = value

    @property
    def current(self) -> MasterKey:
        """The key new data keys are wrapped with."""
        return self._keys[self._current_id]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id in the ring, oldest first (rotation re-wraps all but the current)."""
        return tuple(self._keys)

    def get(self, key_id: str) -> MasterKey:
        """The key a wrapped value names.

        Raises:
            UnknownKeyError: the key was removed from the ring or never belonged to it.
        """
        if key_id not in self._keys:
            self.refresh()  # rotated in since we loaded? (no-op for MASTER_KEY)
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(f"master key {key_id!r} is not in the key ring") from None

    def derive(self, purpose: str, length: int = KEY_BYTES) -> bytes:
        """A key for one purpose, independent of the key that wraps data keys.

        HKDF with the purpose as ``info`` means a leaked pseudonym key reveals nothing about
        the master key or about keys derived for other purposes. A pinned value (see
        :meth:`pin`) wins; otherwise the key is derived from the current master key, which
        is only well defined while the ring holds one key, so a rotated ring refuses.

        Raises:
            UnknownKeyError: the ring holds several keys and this purpose was not pinned.
        """
        pinned = self._pinned.get(purpose)
        if pinned is not None and length <= KEY_BYTES:
            # HKDF output is a stream: a shorter key is the prefix of the 32-byte one.
            return pinned[:length]
        if len(self._keys) > 1:
            raise UnknownKeyError(
                f"the {purpose!r} key must be pinned from the database once keys are rotated"
            )
        return self.derive_fresh(purpose, length)

    def derive_fresh(self, purpose: str, length: int = KEY_BYTES) -> bytes:
        """Derive from the current master key, ignoring pins (to create the value to pin)."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=None,
            info=b"porchlight/" + purpose.encode("utf-8"),
        ).derive(self.current.secret)

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring with one fresh random key, for tests and throwaway demos."""
        key = MasterKey.from_secret(os.urandom(KEY_BYTES))
        return cls([key], key.key_id)

    @staticmethod
    def key_file_path(data_dir: Path) -> Path:
        """Where the key file lives, so `check-config` and `keys rotate` agree with `load`."""
        return data_dir / KEY_FILE_NAME

    @classmethod
    def load(cls, master_key: str | None, data_dir: Path) -> KeyRing:
        """The ring from MASTER_KEY when given, else from the key file (created if missing).

        MASTER_KEY wins outright: keys in an existing key file are then not in the ring, so
        data wrapped under them will not open.

        Raises:
            KeyFileError: MASTER_KEY is not base64 of 32 bytes, or the key file cannot be
                created, read or trusted; the message says how to fix it.
        """
        if master_key is not None:
            secret = decode_master_key(master_key)
            if secret is None:
                # Never quote the value: it is (a mistyped copy of) the master key.
                raise KeyFileError(
                    "PORCHLIGHT_MASTER_KEY must be base64 (standard or URL-safe, padding "
                    "optional) of exactly 32 bytes; see docs/configuration.md to generate one"
                )
            key = MasterKey.from_secret(secret)
            return cls([key], key.key_id)
        path = cls.key_file_path(data_dir)
        if not path.exists():
            _create_key_file(path)
        keys = _read_key_file(path)
        return cls(keys, keys[-1].key_id, path)


def add_key_to_file(path: Path) -> MasterKey:
    """Append a fresh key, which becomes the current one (``porchlight keys rotate``)."""
    keys = _read_key_file(path)
    key = MasterKey.from_secret(os.urandom(KEY_BYTES))
    _replace_key_file(path, [*keys, key])
    return key


def retire_keys_from_file(path: Path, keep: set[str]) -> list[str]:
    """Rewrite the key file with only the keys in ``keep`` (the current one always stays).

    Returns the ids removed.
    """
    keys = _read_key_file(path)
    kept = [k for k in keys if k.key_id in keep or k is keys[-1]]
    _replace_key_file(path, kept)
    return [k.key_id for k in keys if k not in kept]


def _replace_key_file(path: Path, keys: Sequence[MasterKey]) -> None:
    """Write the whole file anew and rename it into place: readers see old or new, never half."""
    lines = "".join(f"{k.key_id} {base64.b64encode(k.secret).decode('ascii')}\n" for k in keys)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_exclusive(temporary, _KEY_FILE_HEADER + lines)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _read_key_file(path: Path) -> list[MasterKey]:
    # One open file for both the permission check and the read, so the file that was
    # checked is the file that is read.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise KeyFileError(f"cannot open the key file {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"{path} is not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{path} is open to other users (mode {stat.filemode(mode)}); run: chmod 600 {path}"
            )
        with open(fd, "rb", closefd=False) as handle:
            raw = handle.read()
    finally:
        os.close(fd)
    keys: list[MasterKey] = []
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("ascii").strip()
        except UnicodeDecodeError:
            raise KeyFileError(f"{path} line {number}: not ASCII text") from None
        if not line or line.startswith("#"):
            continue
        keys.append(_parse_key_line(line, f"{path} line {number}"))
    if not keys:
        raise KeyFileError(f"{path} holds no key; restore it from your backup")
    return keys


def _parse_key_line(line: str, where: str) -> MasterKey:
    # Messages name the line, never its content: the content is a key.
    parts = line.split()
    secret = decode_master_key(parts[1]) if len(parts) == 2 else None
    if secret is None:
        raise KeyFileError(f"{where}: expected '<key id> <base64 of 32 bytes>'")
    key = MasterKey.from_secret(secret)
    if key.key_id != parts[0]:
        raise KeyFileError(f"{where}: key id does not match the key (damaged or mis-pasted)")
    return key


def _create_key_file(path: Path) -> None:
    """Write a fresh key so that no reader ever sees a missing, partial or second key.

    The key is written and synced to a private temporary file, then hard-linked into place.
    ``link`` refuses to replace an existing name, so when two processes start on a fresh
    data dir at once exactly one key wins, and the loser reads the winner's complete file
    instead of an empty one.
    """
    key = MasterKey.from_secret(os.urandom(KEY_BYTES))
    text = f"{_KEY_FILE_HEADER}{key.key_id} {base64.b64encode(key.secret).decode('ascii')}\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _make_private_dir(path.parent)
        _write_exclusive(temporary, text)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; its key is the one everyone uses
        except OSError:
            # A filesystem without hard links: still never overwrite, just less atomic.
            with contextlib.suppress(FileExistsError):
                _write_exclusive(path, text)
    except OSError as exc:
        raise KeyFileError(
            f"cannot create the key file {path}: {exc.strerror or exc}; make DATA_DIR writable "
            "by the service's user or set PORCHLIGHT_MASTER_KEY"
        ) from None
    finally:
        with contextlib.suppress(OSError):  # e.g. DATA_DIR is a file: already reported
            temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _write_exclusive(path: Path, text: str) -> None:
    # O_EXCL with mode 0600: the key is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return  # an operator's directory: its permissions are theirs to choose
    directory.chmod(0o700)  # mkdir's mode is filtered through the umask


def _sync_directory(directory: Path) -> None:
    # Data sealed under a key whose directory entry a crash then loses is gone for good.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
