"""PostgreSQL's pool: a connection the server dropped (a restart) is replaced, not used."""

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.engine import create_engine

pytestmark = pytest.mark.postgres


async def _drop_every_other_connection(url: str) -> int:
    """What a PostgreSQL restart does to the pool's connections: ended by the server."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        ended = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return len(ended)


async def test_a_connection_the_server_ended_is_replaced_before_it_is_used(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:  # one connection, back in the pool after
            before = await connection.scalar(text("SELECT pg_backend_pid()"))

        assert await _drop_every_other_connection(postgres_url) == 1

        async with engine.begin() as connection:  # no error: the pool found it dead
            after = await connection.scalar(text("SELECT pg_backend_pid()"))
            assert await connection.scalar(text("SELECT 41 + 1")) == 42
        assert after != before
    finally:
        await engine.dispose()


async def test_a_connection_still_alive_is_kept(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        pids = []
        for _ in range(3):
            async with engine.connect() as connection:
                pids.append(await connection.scalar(text("SELECT pg_backend_pid()")))
        assert len(set(pids)) == 1
    finally:
        await engine.dispose()
