"""aiosqlite with one trip to its thread per statement, instead of four.

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

A transaction that no longer needs its writes' answers can hold them and send them with its
commit, all in one trip (:meth:`OneTripConnection.hold_writes_until_commit`): a person's
turn is a handful of inserts, and each trip is a wait for the event loop's next turn while
the process's write line (``storage.engine.write_transaction``) stands still.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

# aiosqlite's default: rows per trip when a cursor is iterated (unused here, but required).
_ITER_CHUNK_SIZE = 64

_Description = tuple[tuple[Any, ...], ...] | None
_HeldWrite = tuple[str, Any, bool]  # the SQL, its parameters, whether for many rows
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


def _answers_nothing(sql: str) -> bool:
    """A write that returns no rows, so nothing waits on its answer but its errors."""
    return sql.lstrip()[:6].upper() in _WRITE_VERBS and "RETURNING" not in sql.upper()


def _run_held(
    connection: sqlite3.Connection, held: Sequence[_HeldWrite], *, begin_immediate: bool
) -> None:
    """What must go before a trip's own statement: the transaction's start, held writes."""
    if begin_immediate and not connection.in_transaction:
        connection.execute("BEGIN IMMEDIATE")
    for sql, parameters, many in held:
        if many:
            connection.executemany(sql, parameters)
        else:
            connection.execute(sql, parameters)


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
        """Run one statement on the connection's thread and keep all of its rows."""
        connection = self._connection._conn  # checked here: raises if already closed
        if self._connection.hold(sql, parameters, many=False):
            return self._held()
        held, begin = self._connection.release_held()  # they go first, in this same trip

        def run() -> tuple[list[Any], _Description, int, int | None]:
            _run_held(connection, held, begin_immediate=begin)
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return rows, cursor.description, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        answer = await self._connection._execute(run)
        self._rows, self.description, self.rowcount, self.lastrowid = answer
        return self

    async def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]
    ) -> Any:
        """Run one statement for many rows, in one trip."""
        connection = self._connection._conn
        parameters = list(parameters)  # read now: the caller may reuse its iterable
        if self._connection.hold(sql, parameters, many=True):
            return self._held()
        held, begin = self._connection.release_held()

        def run() -> tuple[int, int | None]:
            _run_held(connection, held, begin_immediate=begin)
            cursor = connection.cursor()
            try:
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self._rows, self.description = [], None
        self.rowcount, self.lastrowid = await self._connection._execute(run)
        return self

    def _held(self) -> OneTripCursor:
        """The answer to a held write: no rows, and a row count not known yet."""
        self._rows, self.description, self.rowcount, self.lastrowid = [], None, -1, None
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
        """Drop the buffer; the sqlite3 cursor was closed on the thread already."""
        self._rows = []

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.pop(0)


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost no trip of their own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding = False
        self._held_writes: list[_HeldWrite] = []
        self._begin_immediate = False

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A cursor made here, not on the thread (aiosqlite's own costs a trip)."""
        return OneTripCursor(self)

    def begin_immediately(self) -> None:
        """Start the next transaction with SQLite's write lock, before its first read.

        Python's sqlite3 begins a transaction only at the first write, so a transaction's
        reads before it see the database as it was, and another process can write in
        between: a purge would then delete a conversation just written to. ``BEGIN
        IMMEDIATE`` goes with the transaction's first statement, in the same trip.
        """
        self._begin_immediate = True

    def hold_writes_until_commit(self) -> None:
        """Until this transaction ends, hold its writes and send them with the commit.

        For a transaction whose writes' answers nobody reads: a held write returns no rows
        and an unknown row count (-1), and its error is raised by the commit, which then
        stores none of them. A read in the meantime sends the held writes first, in its own
        trip, so it sees them (and raises their error).
        """
        self._holding = True

    def hold(self, sql: str, parameters: Any, *, many: bool) -> bool:
        """Keep this statement for the commit if writes are held and it answers nothing."""
        if not (self._holding and _answers_nothing(sql)):
            return False
        self._held_writes.append((sql, parameters, many))
        return True

    def release_held(self) -> tuple[list[_HeldWrite], bool]:
        """The held writes, in order, and whether to begin immediately: both sent now."""
        held, self._held_writes = self._held_writes, []
        begin, self._begin_immediate = self._begin_immediate, False
        return held, begin

    async def commit(self) -> None:
        """Commit, sending any held writes first in the same trip."""
        self._holding = False
        held, begin = self.release_held()
        if not held:
            await super().commit()
            return
        connection = self._conn

        def run() -> None:
            try:
                _run_held(connection, held, begin_immediate=begin)
            except BaseException:
                connection.rollback()  # none of it, and SQLite's lock freed in this trip
                raise
            connection.commit()

        await self._execute(run)

    async def rollback(self) -> None:
        """Roll back, with no trip when nothing is open (a read ends with a rollback)."""
        self._holding = False
        self._held_writes = []  # never sent: nothing to undo for them
        self._begin_immediate = False
        if self._conn.in_transaction:
            await super().rollback()


def async_creator(database_url: str) -> Any:
    """The ``async_creator`` for SQLAlchemy's aiosqlite dialect, for this database URL.

    The URL's path and options become ``sqlite3.connect`` arguments exactly as the stock
    dialect would make them.
    """
    args, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(database_url))

    connector: Callable[[], sqlite3.Connection] = partial(sqlite3.connect, *args, **options)

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(connector, _ITER_CHUNK_SIZE)
        connection._thread.daemon = True  # as SQLAlchemy sets it: never holds up exit
        await connection  # starts the thread and opens the database on it
        return connection

    return connect


__all__ = ["OneTripConnection", "OneTripCursor", "async_creator"]
