"""PostgreSQL for the tests, from PORCHLIGHT_TEST_DATABASE_URL.

Two uses. Tests about PostgreSQL itself (migrations, SKIP LOCKED races) ask for a fresh,
empty database with the ``postgres_url`` fixture. And the whole suite runs on PostgreSQL
when PORCHLIGHT_TEST_BACKEND=postgresql (``make test`` does that second run when the URL is
set): each test then gets its own database, cloned from a template migrated once per run, so
the suite stays quick and no test sees another's rows.

Without the URL, PostgreSQL tests are skipped locally; under CI (CI=true) a missing or
unreachable server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from storage.engine import create_engine
from storage.migrate import upgrade_to_head

ENV_NAME = "PORCHLIGHT_TEST_DATABASE_URL"
BACKEND_ENV = "PORCHLIGHT_TEST_BACKEND"
# Per run, so two runs at once (two checkouts on one machine) do not share a template.
TEMPLATE = f"porchlight_template_{os.getpid()}"


def whole_suite_on_postgres() -> bool:
    """Whether this run puts every test's database on PostgreSQL."""
    return os.environ.get(BACKEND_ENV, "sqlite").lower() == "postgresql"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(reason)


async def _admin_connection() -> tuple[asyncpg.Connection, URL] | None:
    base = os.environ.get(ENV_NAME)
    if not base:
        _unavailable(f"{ENV_NAME} is not set")
        return None
    url = make_url(base)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await asyncpg.connect(admin_dsn), url
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"cannot reach PostgreSQL at {url.host}:{url.port}: {exc}")
        return None


async def fresh_postgres_url(template: str | None = None) -> AsyncIterator[str]:
    """Create a database for one test (empty, or a copy of ``template``); drop it after."""
    connected = await _admin_connection()
    if connected is None:
        return
    admin, url = connected
    name = f"porchlight_test_{secrets.token_hex(6)}"
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def create_migrated_template() -> None:
    """Create this run's template database, migrated to head (once per run)."""
    connected = await _admin_connection()
    if connected is None:
        return
    admin, url = connected
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await admin.close()
    engine = create_engine(url.set(database=TEMPLATE).render_as_string(hide_password=False))
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def drop_template() -> None:
    """Remove this run's template database."""
    base = os.environ.get(ENV_NAME)
    if not base:
        return
    url = make_url(base)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    finally:
        await admin.close()
