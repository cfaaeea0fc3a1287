"""The SQLite driver: one trip to aiosqlite's thread per statement, same answers as before."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.engine import (
    checkpoint_wal,
    create_engine,
    one_trip_driver,
    run_on_the_loop,
    write_transaction,
)
from storage.sqlite_driver import BUSY_TIMEOUT_MS, OneTripConnection

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    await engine.dispose()


async def test_statements_answer_as_sqlite_does(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "a"}, {"body": "b"}]
        )
        assert inserted.rowcount == 2
        one = await connection.execute(text("INSERT INTO notes (body) VALUES ('c')"))
        assert one.lastrowid == 3
        updated = await connection.execute(text("UPDATE notes SET body = 'x' WHERE id < 3"))
        assert updated.rowcount == 2
        rows = await connection.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert [tuple(row) for row in rows] == [(1, "x"), (2, "x"), (3, "c")]
        assert await connection.scalar(text("SELECT count(*) FROM notes WHERE 0")) == 0


async def test_a_failed_statement_raises_and_leaves_the_connection_usable(
    engine: AsyncEngine,
) -> None:
    async def insert_twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'a')"))
            await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'b')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM missing"))
    async with engine.connect() as connection:  # the failed transaction was rolled back
        assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0


async def trips_of(connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every later call onto the connection's thread, recorded as it happens."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, OneTripConnection)
    trips: list[Any] = []
    run_on_thread = driver._execute

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(function)
        return await run_on_thread(function, *args, **kwargs)

    monkeypatch.setattr(driver, "_execute", counted)
    return trips


async def test_a_statement_is_one_trip_to_the_database_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        trips = await trips_of(connection, monkeypatch)
        rows = await connection.execute(text("SELECT id, body FROM notes"))
        assert rows.all() == []
        assert len(trips) == 1  # stock aiosqlite: make a cursor, execute, fetch, close
    # Closing rolls back, which after a read has nothing to undo: no trip for it.
    assert len(trips) == 1


async def test_a_rollback_still_undoes_a_write(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('kept?')"))
        await connection.rollback()
        assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0


async def while_another_process_writes(
    database: Path, write: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``write`` while another process holds SQLite's write lock for 0.3 s.

    The write must wait for the lock, and the event loop must keep running meanwhile.
    """
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing.done()
        assert ticks >= 10  # the loop kept running while the write waited for the lock
        other.execute("COMMIT")
        await asyncio.wait_for(writing, timeout=5)
    finally:
        ticker.cancel()
        other.close()


async def test_a_write_waiting_for_another_process_does_not_stop_the_event_loop(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('waited')"))

    await while_another_process_writes(tmp_path / "driver.db", write)
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT body FROM notes")) == "waited"


async def test_a_burst_of_writers_waits_in_line_and_none_times_out(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/burst.db")

    @event.listens_for(engine.sync_engine, "connect")
    def impatient(dbapi_connection: Any, _record: Any) -> None:
        # No waiting for SQLite's lock at all: any two writers that met there would fail.
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))

    async def write(number: int) -> None:
        async with write_transaction(engine) as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES (:n)"), {"n": number})
            await asyncio.sleep(0)  # another writer gets the event loop mid-transaction
            await connection.execute(text("UPDATE notes SET body = body || '!'"))

    try:
        await asyncio.gather(*(write(number) for number in range(50)))
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM notes")) == 50
    finally:
        await engine.dispose()


async def bodies(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT body FROM notes ORDER BY id"))
        return list(rows.scalars())


@asynccontextmanager
async def on_the_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncConnection, list[Any]]]:
    """A write transaction run on the event loop, and its trips to the thread as they happen."""
    async with write_transaction(engine) as connection:
        trips = await trips_of(connection, monkeypatch)
        await run_on_the_loop(connection)
        yield connection, trips


async def test_a_connection_on_the_loop_makes_no_trip_and_answers_the_same(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with on_the_loop(engine, monkeypatch) as (connection, trips):
        inserted = await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "a"}, {"body": "b"}]
        )
        assert inserted.rowcount == 2
        await connection.execute(text("UPDATE notes SET body = body || '!' WHERE id = 2"))
        rows = await connection.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b!")]
    assert trips == []  # not even for the commit
    assert await bodies(engine) == ["a", "b!"]


async def test_a_failed_statement_on_the_loop_raises_and_undoes_its_transaction(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def insert_twice() -> None:
        async with on_the_loop(engine, monkeypatch) as (connection, _trips):
            await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'a')"))
            await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'b')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    assert await bodies(engine) == []
    async with on_the_loop(engine, monkeypatch) as (connection, _trips):  # still usable
        await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'after')"))
    assert await bodies(engine) == ["after"]


async def test_on_the_loop_a_write_that_must_wait_for_another_process_waits_on_the_thread(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[Any] = []
    patience_on_the_loop: list[int] = []

    async def write() -> None:
        async with on_the_loop(engine, monkeypatch) as (connection, recorded):
            await connection.execute(text("INSERT INTO notes (body) VALUES ('waited')"))
            # Holding the lock now: the rest of the transaction runs on the loop again,
            # where nothing may wait for a lock.
            await connection.execute(text("INSERT INTO notes (body) VALUES ('then')"))
            patience_on_the_loop.append(await connection.scalar(text("PRAGMA busy_timeout")))
            trips.extend(recorded)

    await while_another_process_writes(tmp_path / "driver.db", write)
    assert len(trips) == 1  # only the statement that had to wait went to the thread
    assert patience_on_the_loop == [0]
    assert await bodies(engine) == ["waited", "then"]
    async with engine.connect() as connection:  # the next user waits on the thread again
        assert await connection.scalar(text("PRAGMA busy_timeout")) == BUSY_TIMEOUT_MS


async def test_the_next_user_of_a_connection_runs_on_the_thread_and_waits_for_locks(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with on_the_loop(engine, monkeypatch) as (connection, _trips):
        await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        used = (await connection.get_raw_connection()).driver_connection
    async with engine.connect() as connection:
        assert (await connection.get_raw_connection()).driver_connection is used
        trips = await trips_of(connection, monkeypatch)
        patience = await connection.scalar(text("PRAGMA busy_timeout"))
    assert len(trips) == 1
    assert patience == BUSY_TIMEOUT_MS


async def test_no_commit_checkpoints_the_wal_but_checkpoint_wal_does(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    database = tmp_path / "driver.db"
    before = database.stat().st_size
    for _ in range(3):  # well past SQLite's own checkpoint threshold (1000 pages)
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO notes (body) VALUES (:body)"),
                [{"body": "x" * 4000} for _ in range(500)],
            )
    assert database.stat().st_size == before, "a commit copied the WAL into the database"
    await checkpoint_wal(engine)
    assert database.stat().st_size > before + 3 * 500 * 4000


async def test_what_a_write_transaction_reads_cannot_change_before_it_writes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    other_process = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, '0')"))
    async with other_process.connect() as connection:  # connected already, as a running one
        await connection.execute(text("SELECT 1"))
    has_read, other_tried = asyncio.Event(), asyncio.Event()

    async def read_then_write() -> None:
        async with write_transaction(engine) as connection:
            count = int(await connection.scalar(text("SELECT body FROM notes WHERE id = 1")))
            has_read.set()
            await other_tried.wait()
            await connection.execute(text("UPDATE notes SET body = :n"), {"n": str(count + 1)})

    async def add_one_elsewhere() -> None:
        await has_read.wait()
        # Let the first transaction go on once this write has waited a while (or is done).
        asyncio.get_running_loop().call_later(0.3, other_tried.set)
        async with write_transaction(other_process) as connection:
            await connection.execute(text("UPDATE notes SET body = CAST(body AS INTEGER) + 1"))
        other_tried.set()

    try:
        await asyncio.wait_for(asyncio.gather(read_then_write(), add_one_elsewhere()), 10)
    finally:
        await other_process.dispose()
    assert await bodies(engine) == ["2"], "neither increment is lost"


async def test_statements_run_together_are_one_trip_holding_the_write_lock_from_the_first(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def another_process_may_write() -> bool:
        other = sqlite3.connect(tmp_path / "driver.db", timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked
            return False
        else:
            other.rollback()
            return True
        finally:
            other.close()

    def work(sqlite: sqlite3.Connection) -> tuple[bool, list[str]]:
        locked_out = not another_process_may_write()  # before this work's first statement
        sqlite.execute("INSERT INTO notes (body) VALUES ('a')")
        sqlite.execute("INSERT INTO notes (body) VALUES ('b')")
        return locked_out, [
            body for (body,) in sqlite.execute("SELECT body FROM notes ORDER BY id")
        ]

    async with write_transaction(engine) as connection:
        driver = await one_trip_driver(connection)
        assert driver is not None
        trips = await trips_of(connection, monkeypatch)
        assert await driver.run_statements(work) == (True, ["a", "b"])
        assert len(trips) == 1
    assert await bodies(engine) == ["a", "b"]  # and committed with the transaction
    assert another_process_may_write()
