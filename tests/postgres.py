"""A fresh PostgreSQL database per test, from PORCHLIGHT_TEST_DATABASE_URL.

Without the variable, PostgreSQL tests are skipped locally; under CI (CI=true) a missing or
unreachable server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

ENV_NAME = "PORCHLIGHT_TEST_DATABASE_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(reason)


async def fresh_postgres_url() -> AsyncIterator[str]:
    """Create an empty database for one test and drop it afterwards."""
    base = os.environ.get(ENV_NAME)
    if not base:
        _unavailable(f"{ENV_NAME} is not set")
        return
    url = make_url(base)
    name = f"porchlight_test_{secrets.token_hex(6)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"cannot reach PostgreSQL at {url.host}:{url.port}: {exc}")
        return
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
