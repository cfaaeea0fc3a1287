from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from alembic import command
from sqlalchemy import column as sql_column
from sqlalchemy import inspect, select, table, text

from config import Settings
from storage.engine import create_engine
from storage.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    schema_drift,
    upgrade_to_head,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "sqlite":
        return settings.database_url
    return request.getfixturevalue("postgres_url")


async def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        assert await current_revision(engine) == head_revision()
        assert await schema_drift(engine) == []
    finally:
        await engine.dispose()


async def test_upgrade_is_safe_to_run_on_every_start(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        await upgrade_to_head(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_starting_the_service_upgrades_an_empty_database(
    aiohttp_client: Any, app: web.Application, settings: Settings
) -> None:
    await aiohttp_client(app)
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert {"conversations", "conversation_keys", "messages", "users"} <= set(tables)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


@pytest.mark.sqlite_only
async def test_sqlite_runs_with_wal_and_secure_delete(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            secure = (await connection.exec_driver_sql("PRAGMA secure_delete")).scalar()
            foreign = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        assert (journal, secure, foreign) == ("wal", 1, 1)
        assert settings.data_dir.stat().st_mode & 0o077 == 0
    finally:
        await engine.dispose()


async def test_health_sees_a_working_and_a_missing_database(settings: Settings, tmp_path) -> None:
    from storage.engine import create_session_factory, database_reachable

    working = create_engine(settings.database_url)
    missing = create_engine(f"sqlite+aiosqlite:///{tmp_path}/gone/x.db")
    (tmp_path / "gone").rmdir()  # the directory vanished: SQLite cannot open the file
    try:
        assert await database_reachable(create_session_factory(working))
        assert not await database_reachable(create_session_factory(missing))
    finally:
        await working.dispose()
        await missing.dispose()


async def test_database_errors_do_not_carry_the_values_involved(sessions) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    from storage.models import User, utcnow

    def user() -> User:
        return User(
            username="canary-user-3344", role="advocate", password_hash="x", created_at=utcnow()
        )

    async with sessions.begin() as session:
        session.add(user())
    with pytest.raises(IntegrityError) as caught:
        async with sessions.begin() as session:
            session.add(user())
    assert "canary-user-3344" not in str(caught.value)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database no migration has touched (the suite's own may already be at head)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    return request.getfixturevalue("postgres_url")


async def test_queued_provider_deletions_survive_the_move_to_jobs_of_many_ids(
    empty_database_url: str,
) -> None:
    async def migrate(engine: Any, revision: str, *, down: bool = False) -> None:
        step = command.downgrade if down else command.upgrade
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: step(alembic_config(sync), revision))

    async def jobs(engine: Any, column: str) -> list[tuple[str, str, int]]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    sql_column(column), sql_column("status"), sql_column("attempts")
                ).select_from(table("provider_deletions"))
            )
            return sorted(tuple(row) for row in rows)

    engine = create_engine(empty_database_url)
    try:
        await migrate(engine, "0010")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO provider_deletions"
                    " (id, channel, provider_id, status, attempts, next_attempt_at)"
                    " VALUES ('a1', 'sms', 'SM0001', 'pending', 3, '2026-12-01 00:00:00+00:00')"
                )
            )
        await upgrade_to_head(engine)
        assert await jobs(engine, "provider_ids") == [("SM0001", "pending", 3)]

        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE provider_deletions SET provider_ids = 'SM0001 SM0002 SM0003'")
            )
        await migrate(engine, "0010", down=True)
        assert await jobs(engine, "provider_id") == [
            (f"SM000{number}", "pending", 3) for number in (1, 2, 3)
        ]
    finally:
        await engine.dispose()
