"""aiosqlite with one trip to its thread per statement, or none at all for a person's turn.

aiosqlite runs each call on the connection's own thread and wakes the event loop with the
answer. Through SQLAlchemy a statement is four such calls (make a cursor, execute, fetch
the rows, close the cursor), and with a whole turn being a handful of short statements,
those hand-offs between threads were most of its time (see docs/benchmarks.md). Here one
call on the thread executes, fetches every row and closes the cursor; the cursor
SQLAlchemy holds is a plain buffer of the answer.

The thread stays: a statement waiting on SQLite's lock (another process writing, or a
transaction of this one held across an await) blocks that thread, never the event loop.
Fetching every row at once is what SQLAlchemy's aiosqlite adapter already does for every
statement that is not a server-side cursor, and Porchlight uses none.

People's turns go further (:meth:`OneTripConnection.run_on_the_loop`): their statements run
on the event loop itself, with no trip at all. A batch of turns is a few short statements,
a millisecond or two of SQLite's work, where each trip cost a wait for the event loop's
next turn and for the interpreter's lock to pass between threads, several milliseconds
under load, with the database's one writer waiting all that time (docs/benchmarks.md).
Such a statement never waits for SQLite's lock on the loop: while the connection runs on
the loop its busy timeout is zero, and a statement SQLite answers "busy" (another process,
or another connection of this one, holds the write lock) goes to the thread after all,
where waiting blocks nobody. Their commits do not checkpoint the WAL either: no commit
does (see ``storage.engine``), the app checkpoints in the background.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

T = TypeVar("T")

# How long a statement on the thread waits for another connection's write lock.
BUSY_TIMEOUT_MS = 5000
# aiosqlite's default: rows per trip when a cursor is iterated (unused here, but required).
_ITER_CHUNK_SIZE = 64

_Description = tuple[tuple[Any, ...], ...] | None
_Work = Callable[[sqlite3.Connection], T]


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """SQLite's "busy": another connection holds a lock this statement needs."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _begin_immediate(connection: sqlite3.Connection, begin: bool) -> None:
    if begin and not connection.in_transaction:
        connection.execute("BEGIN IMMEDIATE")


def _patiently(work: _Work[T], connection: sqlite3.Connection) -> T:
    """Work on the thread for a connection on the loop: it may wait for the lock here."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return work(connection)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


class OneTripCursor:
    """What SQLAlchemy's adapter expects of an aiosqlite cursor, answered from a buffer."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run one statement and keep all of its rows."""
        begin = self._connection.take_begin()

        def run(connection: sqlite3.Connection) -> tuple[list[Any], _Description, int, int | None]:
            _begin_immediate(connection, begin)
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return rows, cursor.description, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        answer = await self._connection.run(run)
        self._rows, self.description, self.rowcount, self.lastrowid = answer
        return self

    async def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]
    ) -> Any:
        """Run one statement for many rows at once."""
        begin = self._connection.take_begin()
        parameters = list(parameters)  # read now: the caller may reuse its iterable

        def run(connection: sqlite3.Connection) -> tuple[int, int | None]:
            _begin_immediate(connection, begin)
            cursor = connection.cursor()
            try:
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self._rows, self.description = [], None
        self.rowcount, self.lastrowid = await self._connection.run(run)
        return self

    async def fetchone(self) -> Any:
        """The next buffered row, or None."""
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` buffered rows."""
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        """Every buffered row."""
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        """Drop the buffer; the sqlite3 cursor was closed already."""
        self._rows = []

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.pop(0)


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost no trip of their own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_immediate = False
        self._on_the_loop = False

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A cursor made here, not on the thread (aiosqlite's own costs a trip)."""
        return OneTripCursor(self)

    def begin_immediately(self) -> None:
        """Start the next transaction with SQLite's write lock, before its first read.

        Python's sqlite3 begins a transaction only at the first write, so a transaction's
        reads before it see the database as it was, and another process can write in
        between: a purge would then delete a conversation just written to. ``BEGIN
        IMMEDIATE`` goes with the transaction's first statement, in the same call.
        """
        self._begin_immediate = True

    def take_begin(self) -> bool:
        """Whether the statement being sent must begin the transaction immediately."""
        begin, self._begin_immediate = self._begin_immediate, False
        return begin

    def run_on_the_loop(self) -> None:
        """Until this use of the connection ends, run its statements on the event loop.

        For a person's turn: its lookup and its writes, short statements all (see the
        module docstring). Never for a statement that can take long (a purge, a vacuum,
        a checkpoint): the whole service would stand still meanwhile. Ends with
        :meth:`back_to_the_pool`.
        """
        if not self._on_the_loop:
            self._conn.execute("PRAGMA busy_timeout=0")  # never wait for a lock on the loop
            self._on_the_loop = True

    @property
    def on_the_loop(self) -> bool:
        """Whether this use of the connection runs its statements on the event loop."""
        return self._on_the_loop

    def back_to_the_pool(self) -> None:
        """The connection's user is done: the next one starts on the thread again."""
        self._begin_immediate = False
        if self._on_the_loop:
            self._on_the_loop = False
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def run(self, work: _Work[T]) -> T:
        """Do ``work`` on the loop if the connection runs there and SQLite is free."""
        connection = self._conn  # raises if the connection was closed
        if not self._on_the_loop:
            return await self._execute(work, connection)
        try:
            return work(connection)
        except sqlite3.OperationalError as exc:
            # Busy before anything was done (no transaction was begun): another
            # connection is writing. Wait for it on the thread instead.
            if not _is_busy(exc) or connection.in_transaction:
                raise
        return await self._execute(partial(_patiently, work), connection)

    async def run_statements(self, work: _Work[T]) -> T:
        """Run ``work``, several statements given to sqlite3 itself, in a single trip.

        For a batch where SQLAlchemy's work on each statement would outweigh SQLite's (a
        purge's: thousands of ids bound, a hundred thousand provider ids returned). The
        transaction begins as a cursor's statement would begin it (:meth:`begin_immediately`).
        """
        begin = self.take_begin()

        def run(connection: sqlite3.Connection) -> T:
            _begin_immediate(connection, begin)
            return work(connection)

        return await self.run(run)

    async def commit(self) -> None:
        """Commit, on the loop when the connection runs there."""
        self._begin_immediate = False
        await self.run(sqlite3.Connection.commit)

    async def rollback(self) -> None:
        """Roll back, with no work at all when nothing is open (a read ends with a rollback)."""
        self._begin_immediate = False
        if self._conn.in_transaction:
            await self.run(sqlite3.Connection.rollback)


def async_creator(database_url: str) -> Any:
    """The ``async_creator`` for SQLAlchemy's aiosqlite dialect, for this database URL.

    The URL's path and options become ``sqlite3.connect`` arguments as the stock dialect
    would make them, except that ``check_same_thread`` is always off: that is what lets a
    statement run on the loop as well as on the connection's thread, one at a time (the
    stock dialect turns it on for ``:memory:``, and a URL can ask for it).
    """
    args, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(database_url))
    options["check_same_thread"] = False

    connector: Callable[[], sqlite3.Connection] = partial(sqlite3.connect, *args, **options)

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(connector, _ITER_CHUNK_SIZE)
        connection._thread.daemon = True  # as SQLAlchemy sets it: never holds up exit
        await connection  # starts the thread and opens the database on it
        return connection

    return connect


__all__ = ["BUSY_TIMEOUT_MS", "OneTripConnection", "OneTripCursor", "async_creator"]
