"""A connection a batch stage keeps: rows and errors as SQLAlchemy's, a lost one replaced."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crypto import SealedText
from storage.engine import create_engine
from storage.kept_connection import DriverSelect, KeptConnection, KeptConnectionHandedBack
from storage.many_rows import ManyRows, together
from storage.migrate import upgrade_to_head
from storage.models import Conversation, ProcessedInbound

pytestmark = pytest.mark.postgres

LEDGER: Table = ProcessedInbound.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
RECORD = ManyRows(insert(LEDGER), ("digest", "received_at"))
LEDGER_ROWS = DriverSelect(select(LEDGER).order_by(LEDGER.c.digest))
A_CONVERSATION = DriverSelect(select(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("id")))
OWN_BACKEND = DriverSelect(select(func.pg_backend_pid().label("pid")))
A_LONG_WAIT = DriverSelect(select(func.pg_sleep(5).label("slept")))
A_SHORT_WAIT = DriverSelect(select(func.pg_sleep(0.3).label("slept")))


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def kept(engine: AsyncEngine) -> AsyncIterator[KeptConnection]:
    kept = KeptConnection(engine)
    yield kept
    await kept.hand_back()


async def _end_backend(engine: AsyncEngine, pid: int) -> None:
    """What a PostgreSQL restart does to a connection: ended by the server."""
    url = make_url(engine.url).set(drivername="postgresql")
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def _record(kept: KeptConnection, *rows: tuple[str, datetime]) -> None:
    await kept.execute(*together(kept.dialect, [(RECORD, rows)]))


async def test_rows_come_back_as_sqlalchemy_gives_them(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    at = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=-5)))
    await _record(kept, ("b" * 64, elsewhere), ("a" * 64, at))
    sealed = SealedText(b"\x01" + b"s" * 40)
    async with engine.begin() as connection:
        await connection.execute(
            insert(CONVERSATIONS).values(
                id="c" * 32, channel="sms", pseudonym="p" * 64, status="active",
                script="default", flow_state=sealed, message_count=0, created_at=at,
                last_activity_at=at,
            )
        )  # fmt: skip
        through_sqlalchemy = (await connection.execute(select(CONVERSATIONS))).one()

    ledger = await kept.fetch(LEDGER_ROWS)
    [conversation] = await kept.fetch(A_CONVERSATION, id="c" * 32)

    assert [(row.digest, row.received_at) for row in ledger] == [("a" * 64, at), ("b" * 64, at)]
    assert ledger[0].received_at.tzinfo is UTC
    assert tuple(conversation) == tuple(through_sqlalchemy)
    assert isinstance(conversation.flow_state, SealedText)  # still sealed, as stored
    assert await kept.fetch(A_CONVERSATION, id="nobody") == []


async def test_a_duplicate_row_is_sqlalchemys_integrity_error_and_stores_nothing(
    kept: KeptConnection,
) -> None:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    await _record(kept, ("a" * 64, at))

    with pytest.raises(IntegrityError) as refused:
        await _record(kept, ("n" * 64, at), ("a" * 64, at))

    # Neither the parameters nor PostgreSQL's DETAIL, which quotes the duplicate key.
    assert "n" * 64 not in str(refused.value)
    assert "a" * 64 not in str(refused.value)
    assert [row.digest for row in await kept.fetch(LEDGER_ROWS)] == ["a" * 64]
    assert len(await kept.fetch(OWN_BACKEND)) == 1, "the connection is still good"


async def test_a_wrong_statement_is_a_dbapi_error_and_the_connection_goes_on(
    kept: KeptConnection,
) -> None:
    with pytest.raises(DBAPIError) as refused:
        await kept.execute("SELECT no_such_column FROM processed_inbound", [])

    assert not refused.value.connection_invalidated
    assert len(await kept.fetch(LEDGER_ROWS)) == 0


async def test_one_connection_serves_every_statement_and_stays_out_of_the_pool(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    pids = {(await kept.fetch(OWN_BACKEND))[0].pid for _ in range(3)}

    assert len(pids) == 1
    assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await kept.hand_back()
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_it_plans_without_sequential_scans_and_the_pool_gets_them_back(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE processed_inbound"))  # empty: a scan is cheapest
    lookup = "EXPLAIN SELECT digest FROM processed_inbound WHERE digest = ANY($1::varchar[])"
    driver = await kept._driver()

    plan = "\n".join(row[0] for row in await driver.fetch(lookup, ["a" * 64]))
    await kept.hand_back()
    async with engine.connect() as connection:  # the same connection, back in the pool
        setting = await connection.scalar(text("SHOW enable_seqscan"))

    assert "Index" in plan
    assert "Seq Scan" not in plan
    assert setting == "on"


async def test_a_connection_the_server_ended_while_idle_is_replaced_unnoticed(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    [before] = await kept.fetch(OWN_BACKEND)
    await _end_backend(engine, before.pid)
    await asyncio.sleep(0.1)  # the loop reads the server's goodbye

    [after] = await kept.fetch(OWN_BACKEND)

    assert after.pid != before.pid


async def test_a_connection_lost_during_a_statement_says_so_and_the_next_one_works(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    [before] = await kept.fetch(OWN_BACKEND)
    waiting = asyncio.create_task(kept.fetch(A_LONG_WAIT))
    await asyncio.sleep(0.2)
    await _end_backend(engine, before.pid)

    with pytest.raises(DBAPIError) as lost:
        await waiting

    assert lost.value.connection_invalidated
    assert isinstance(lost.value, OperationalError)  # what the callers try again after
    [after] = await kept.fetch(OWN_BACKEND)
    assert after.pid != before.pid
    assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]


async def test_handing_back_a_connection_the_server_ended_is_quiet(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    [before] = await kept.fetch(OWN_BACKEND)
    await _end_backend(engine, before.pid)

    await kept.hand_back()  # at shutdown, after a PostgreSQL restart: no error

    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT 41 + 1")) == 42


async def test_handing_back_waits_for_the_statement_in_flight(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    in_flight = asyncio.create_task(kept.fetch(A_SHORT_WAIT))
    await asyncio.sleep(0.05)

    await kept.hand_back()

    assert (await in_flight)[0].slept is None  # it finished, on its connection
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_server_that_refuses_connections_is_an_error_callers_try_again_after() -> None:
    nowhere = create_engine("postgresql+asyncpg://porchlight@127.0.0.1:1/porchlight")
    kept = KeptConnection(nowhere)
    try:
        with pytest.raises(OperationalError) as refused:
            await kept.fetch(OWN_BACKEND)
    finally:
        await nowhere.dispose()

    assert refused.value.connection_invalidated  # channels/webhooks.py tries it again


async def test_nothing_is_taken_from_the_pool_after_the_connection_is_handed_back(
    engine: AsyncEngine, kept: KeptConnection
) -> None:
    await kept.fetch(OWN_BACKEND)
    await kept.hand_back()

    with pytest.raises(KeptConnectionHandedBack):
        await kept.fetch(OWN_BACKEND)
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_only_a_postgresql_connection_is_kept(tmp_path: Path) -> None:
    sqlite = create_engine(f"sqlite+aiosqlite:///{tmp_path}/porchlight.db")
    try:
        with pytest.raises(ValueError, match="PostgreSQL"):
            KeptConnection(sqlite)
    finally:
        await sqlite.dispose()
