"""Database engine and session factory.

SQLite is the embedded default; PostgreSQL (asyncpg) is the production option. SQLite
connections are tuned for privacy as well as speed: ``secure_delete`` overwrites deleted
content instead of leaving it in free pages, and the WAL is truncated after a wipe (see
:func:`scrub_free_space`) so a wiped conversation does not linger in the journal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.util import await_only

from storage.sqlite_driver import BUSY_TIMEOUT_MS, OneTripConnection, async_creator

SessionFactory = async_sessionmaker[AsyncSession]

_SQLITE_PRAGMAS = (
    # Must come before the first table exists: lets a purge hand freed pages back to the
    # file system (PRAGMA incremental_vacuum) instead of keeping them, zeroed, in the file.
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    # Zero the bytes of deleted rows so a wiped conversation cannot be carved out of the file.
    "PRAGMA secure_delete=ON",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # No commit copies the WAL back into the database file: a person's turn commits on the
    # event loop (storage/sqlite_driver.py), and a checkpoint there would stop the service
    # for as long as the copy and its fsync take. The app checkpoints in the background
    # instead (checkpoint_wal), and a wipe at once (scrub_free_space).
    "PRAGMA wal_autocheckpoint=0",
    # NORMAL is durable against a killed process in WAL mode; only power loss can drop the
    # last commits, which is the trade every WAL deployment makes.
    "PRAGMA synchronous=NORMAL",
)


def is_sqlite(url: str) -> bool:
    """Tell SQLite URLs apart, since a few privacy measures only apply there."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(database_url: str) -> AsyncEngine:
    """Create the async engine, preparing SQLite's directory and pragmas.

    Args:
        database_url: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``.
    """
    # hide_parameters: SQLAlchemy otherwise puts bound values (pseudonyms, usernames, sealed
    # bytes) into error messages, and error messages end up in logs.
    if not is_sqlite(database_url):
        engine = _create_async_engine(database_url, hide_parameters=True)
        event.listen(engine.sync_engine.pool, "checkout", _ping_postgresql)
        return engine

    database = make_url(database_url).database
    if database and database != ":memory:":
        directory = Path(database).parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A connection going back to the pool is rolled back only if a transaction is open:
    # the Session has always ended its own by then, and with aiosqlite every needless
    # ROLLBACK is a trip to its thread on every request (benchmarks: about 15% of a turn).
    # One trip to aiosqlite's thread per statement instead of four (storage/sqlite_driver.py).
    # The connection used last is the next one out (LIFO): SQLite empties a connection's page
    # cache whenever another connection wrote since its last transaction, so the warmest one
    # is the one that wrote last. Under load it halved the bytes read (docs/benchmarks.md).
    engine = _create_async_engine(
        database_url,
        async_creator=async_creator(database_url),
        hide_parameters=True,
        pool_reset_on_return=None,
        pool_use_lifo=True,
    )
    event.listen(engine.sync_engine, "connect", _apply_sqlite_pragmas)
    event.listen(engine.sync_engine.pool, "reset", _reset_for_next_user)
    return engine


def _ping_postgresql(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Make sure a pooled PostgreSQL connection still works before anyone uses it.

    After a PostgreSQL restart every pooled connection is dead; without this the first
    turn on each would fail, and a web chat's turn is not tried again. SQLAlchemy's own
    ``pool_pre_ping`` does the same in three round trips on asyncpg (a transaction around
    its ping, for pgbouncer's transaction mode, which Porchlight does not use); this is one.
    A new person's message checks out two connections, so that is four round trips fewer
    (docs/benchmarks.md). A dead connection is replaced by a fresh one: the pool tries
    again on ``DisconnectionError``.
    """
    try:
        await_only(record.driver_connection.fetchrow(";"))
    except Exception as exc:  # any failure: the connection is no good
        raise DisconnectionError("a pooled PostgreSQL connection is gone") from exc


def _reset_for_next_user(dbapi_connection: Any, record: Any, _state: Any = None) -> None:
    """A connection back in the pool: nothing left open, and back on its thread."""
    driver = record.driver_connection
    if driver.in_transaction:
        dbapi_connection.rollback()
    if isinstance(driver, OneTripConnection):
        driver.back_to_the_pool()


def _apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded values after commit, since stores return detached values."""
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: SessionFactory) -> AsyncEngine:
    """The engine behind a session factory.

    A person's turn runs on a plain connection, not a Session: Core statements need no unit
    of work, and the Session's own bookkeeping was a tenth of a message's CPU
    (docs/benchmarks.md).
    """
    bind = sessions.kw["bind"]
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory is not bound to an async engine")
    return bind


# One writer at a time per SQLite database, in arrival order. SQLite lets one connection
# write and makes the others poll with growing sleeps; under a burst of turns an unlucky one
# kept losing the race until its busy timeout ran out, and its message was lost
# (docs/benchmarks.md). Waiting here, in line, costs no polling.
_SQLITE_WRITERS: WeakKeyDictionary[AsyncEngine, asyncio.Lock] = WeakKeyDictionary()
# Pages a purge hands back to the file system in one go, about 15 ms of SQLite's work.
VACUUM_PAGES_AT_ONCE = 2000


@asynccontextmanager
async def write_line(engine: AsyncEngine) -> AsyncIterator[None]:
    """Wait in line with this process's other writers to a SQLite database (see above).

    PostgreSQL locks rows, not the database: there nobody waits here.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    async with _SQLITE_WRITERS.setdefault(engine, asyncio.Lock()):
        yield


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction, committed at the end; in line for SQLite's lock.

    On SQLite the transaction takes the database's write lock with its first statement,
    read or write, so what it reads cannot change before it writes, even by another process
    (a ``porchlight purge`` beside the service).
    """
    async with write_line(engine), engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            driver = await one_trip_driver(connection)
            if driver is not None:
                driver.begin_immediately()
        yield connection


async def driver_on_the_loop(connection: AsyncConnection) -> OneTripConnection | None:
    """The connection's SQLite driver while it runs on the loop (:func:`run_on_the_loop`)."""
    if connection.dialect.name != "sqlite":
        return None
    driver = await one_trip_driver(connection)
    return driver if driver is not None and driver.on_the_loop else None


async def one_trip_driver(connection: AsyncConnection) -> OneTripConnection | None:
    """The connection's own SQLite driver, when it is ours (storage/sqlite_driver.py)."""
    driver = (await connection.get_raw_connection()).driver_connection
    return driver if isinstance(driver, OneTripConnection) else None


async def run_on_the_loop(connection: AsyncConnection) -> None:
    """From here until the connection goes back to the pool, SQLite runs it on the loop.

    For a person's turn only: its lookup and its writes, a few short statements, which on
    SQLite's thread spent more time waiting for the event loop than working (see
    storage/sqlite_driver.py). Never for work that can take long: nothing else runs on
    the loop meanwhile. A statement that finds another writer holding the database waits
    for it on the thread instead, provided nothing of its transaction was done yet: a
    read on a plain connection, or the first statement of a :func:`write_transaction`,
    which takes the write lock first (``BEGIN IMMEDIATE``). Use it for nothing else: in a
    transaction begun otherwise, a write that finds the database busy fails at once.
    PostgreSQL's driver has no thread to avoid; there this does nothing.
    """
    if connection.dialect.name != "sqlite":
        return
    driver = await one_trip_driver(connection)
    if driver is not None:
        driver.run_on_the_loop()


async def reads_without_transaction(connection: AsyncConnection) -> None:
    """Each statement on this connection on its own, for reads that need no transaction.

    On PostgreSQL (autocommit) a read then costs no BEGIN and ROLLBACK round trips, two of
    a person's lookup's five. SQLite's reads run outside a transaction already: Python's
    sqlite3 begins one only before a write. Never for a connection that writes.
    """
    if connection.dialect.name == "postgresql":
        await connection.execution_options(isolation_level="AUTOCOMMIT")


async def database_reachable(sessions: SessionFactory) -> bool:
    """Whether a trivial query succeeds: what the health check reports."""
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # any failure means "not healthy"; the caller logs it
        return False
    return True


async def checkpoint_wal(engine: AsyncEngine) -> None:
    """Copy what the WAL holds into the database file, as far as readers allow.

    No commit does this (see the pragmas above), so the app does it in the background,
    on a connection's own thread. PASSIVE never waits for readers or writers; what it
    cannot copy now waits for the next round. PostgreSQL: nothing to do.
    """
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


async def hand_back_free_pages(engine: AsyncEngine) -> None:
    """Give the pages SQLite freed back to the file system (``auto_vacuum=INCREMENTAL``).

    ``PRAGMA incremental_vacuum`` frees one page per step, and Python's sqlite3 takes a
    single step for a statement that answers no rows: through ``execute`` it freed one
    page a purge. ``executescript`` steps it to the end, on a connection's thread. It
    goes ``VACUUM_PAGES_AT_ONCE`` pages at a time, each in the write line, so people's
    turns get in between: a database that kept years of free pages has them all handed
    back by its first purge. PostgreSQL: nothing to do here.
    """
    if engine.dialect.name != "sqlite":
        return
    free = None
    while True:
        async with write_line(engine), engine.connect() as connection:
            driver = await one_trip_driver(connection)
            if driver is None:
                raise TypeError("a SQLite connection of another driver than storage.sqlite_driver")
            await driver.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES_AT_ONCE});")
            left = int(await connection.scalar(text("PRAGMA freelist_count")) or 0)
        # Done, or no progress: a database made without auto_vacuum (before it was set,
        # it can only be set on an empty one) keeps its free pages; VACUUM would rebuild it.
        if not left or (free is not None and left >= free):
            return
        free = left


async def scrub_free_space(connection: AsyncConnection) -> None:
    """Push deleted pages out of the SQLite WAL so wiped rows leave no copy behind.

    With ``secure_delete`` the main file's freed pages are zeroed, but the WAL still holds
    the page images written before the delete until a checkpoint truncates it.
    """
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def sqlite_files(database_url: str) -> list[Path]:
    """The database file and its journals, for privacy tests and backups."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return []
    base = Path(database)
    return [p for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]


__all__ = [
    "SessionFactory",
    "checkpoint_wal",
    "create_engine",
    "create_session_factory",
    "database_reachable",
    "driver_on_the_loop",
    "engine_of",
    "hand_back_free_pages",
    "is_sqlite",
    "one_trip_driver",
    "reads_without_transaction",
    "run_on_the_loop",
    "scrub_free_space",
    "sqlite_files",
    "write_line",
    "write_transaction",
]
