"""Canary searching shared by the privacy tests: every form a careless layer might write."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

import asyncpg
from sqlalchemy.engine import make_url

MAX_SCANNED_BYTES = 50 * 1024 * 1024


def forms(canary: str) -> list[bytes]:
    """Plain, URL-encoded, JSON-escaped, base64, UTF-16 and, for numbers, digits only."""
    found = {
        canary,
        quote(canary),
        quote_plus(canary),
        json.dumps(canary)[1:-1],
        base64.b64encode(canary.encode()).decode(),
        base64.urlsafe_b64encode(canary.encode()).decode(),
    }
    digits = "".join(ch for ch in canary if ch.isdigit())
    if len(digits) >= 7 and digits == canary.lstrip("+").replace(" ", ""):
        found.add(digits)  # a phone number or chat id written without its punctuation
    return [form.encode() for form in found] + [canary.encode("utf-16-le")]


def canaries_in(blob: bytes, canaries: Iterable[str]) -> list[str]:
    """Which forms of which canaries occur in ``blob``."""
    return [
        form.decode(errors="replace")
        for canary in canaries
        for form in forms(canary)
        if form in blob
    ]


def files_written_since(started: float, *roots: Path) -> list[Path]:
    """Files under ``roots`` (and the system temp directory) changed since ``started``."""
    found = []
    for root in (*roots, Path(tempfile.gettempdir())):
        # os.walk, not rglob: a directory another process removes mid-walk (a browser's
        # temporary profile) is skipped instead of ending the walk with an error.
        for directory, _subdirectories, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                try:
                    if (
                        path.is_file()
                        and path.stat().st_mtime >= started
                        and path.stat().st_size <= MAX_SCANNED_BYTES
                    ):
                        found.append(path)
                except OSError:
                    continue  # vanished or unreadable meanwhile: another process's file
    return found


def now() -> float:
    """A start mark for :func:`files_written_since` (file times have coarse resolution)."""
    return time.time() - 1


async def stored_blobs(database_url: str, files: Iterable[Path]) -> list[tuple[str, bytes]]:
    """What to search: the files, and on PostgreSQL every row of every table.

    On SQLite the database is one of the files (and must be: a test that scanned no database
    would prove nothing). On PostgreSQL the rows are read back through the server, bytea
    columns as raw bytes, so a value written in clear anywhere is found. Rows PostgreSQL has
    deleted but not yet vacuumed are not visible this way (docs/threat-model.md).
    """
    files = list(files)
    blobs = []
    for path in files:
        try:
            blobs.append((str(path), path.read_bytes()))
        except FileNotFoundError:
            continue  # gone since it was listed (a WAL checkpointed away): nothing to find
    if not database_url.startswith("postgresql"):
        assert any(path.name == "porchlight.db" for path in files), "no database scanned"
        return blobs
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        for (table,) in tables:
            dump = bytearray()
            # Table names come from pg_tables, not from input.
            for row in await connection.fetch(f'SELECT * FROM "{table}"'):  # noqa: S608
                for value in row.values():
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
            blobs.append((f"postgresql table {table}", bytes(dump)))
    finally:
        await connection.close()
    assert any(name == "postgresql table conversations" for name, _ in blobs)
    return blobs
