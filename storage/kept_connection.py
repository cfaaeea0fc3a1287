"""A PostgreSQL connection a batch stage keeps for itself, its statements run on asyncpg.

A batch stage (storage/batching.py) runs one batch at a time, so it needs one connection,
and under load it needs it every few milliseconds. Taken from the pool for each batch, the
connection cost the service more CPU than the statements did: the checkout and its ping,
SQLAlchemy's Connection, transaction and execution context around each statement, and the
greenlet that bridges SQLAlchemy to asyncpg; together about 1.5 ms per batch of lookups and
batch of turns, a quarter of each message's work (docs/benchmarks.md). A
:class:`KeptConnection` takes one connection from the engine's pool, made like every other
one, when its stage first needs it, and keeps it until :meth:`KeptConnection.hand_back`.
Statements go to asyncpg directly, compiled by SQLAlchemy once (:class:`DriverSelect`; the
writes, storage/many_rows.py), each value still through its column's type.

A kept connection plans without sequential scans: its statements find rows by key, and must
use the indexes whatever PostgreSQL's statistics say. On a new database, or one just
restored from a backup (a dump holds no statistics), until autovacuum had analyzed the
tables PostgreSQL read the whole delivery ledger for every batch's duplicate check, and a
message cost more the more messages were stored (docs/benchmarks.md).

Errors come out as SQLAlchemy raises them on pooled connections, parameters hidden:
``IntegrityError``; ``OperationalError`` with ``connection_invalidated`` when the connection
was lost; ``DBAPIError`` otherwise. A lost connection is discarded, and the next statement
takes another from the pool.
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from storage.many_rows import Processor, bind_processors

T = TypeVar("T")

# What asyncpg raises for a refused statement or a lost connection.
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection ended while the driver was reading from it
    OSError,
)
# Set on the connection while it is kept, reset before it goes back to the pool.
_NO_SEQUENTIAL_SCANS = "SET enable_seqscan = off"
_SEQUENTIAL_SCANS_AGAIN = "RESET enable_seqscan"


class KeptConnectionHandedBack(Exception):
    """The store was shut down: its kept connection went back to the pool for good."""


class _Compiled(NamedTuple):
    """A SELECT compiled for asyncpg, and what reading its rows needs."""

    sql: str
    parameters: tuple[str, ...]
    # The values the statement holds itself (``status == 'active'``), by parameter name
    values: dict[str, Any]
    bind_processors: list[tuple[int, Processor]]
    result_processors: list[tuple[int, Processor]]
    row: type[tuple[Any, ...]]


class DriverSelect:
    """A SELECT compiled once for asyncpg; its rows come back typed as SQLAlchemy types them.

    Each row is a named tuple of the selected columns' keys: timestamps through their
    column's type (aware, in UTC), sealed columns still sealed (crypto/columns.py).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement as the dialect's driver takes it, compiled on first use."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        parameters = tuple(compiled.positiontup or ())
        own_values = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        columns = list(self._statement.selected_columns)
        results: list[tuple[int, Processor]] = []
        for position, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((position, process))
        row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        binds = bind_processors(compiled, dialect)
        return _Compiled(str(compiled), parameters, own_values, binds, results, row)


class KeptConnection:
    """One connection of the engine's pool, kept by one batch stage for all its batches."""

    def __init__(self, engine: AsyncEngine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("only a PostgreSQL connection is kept (SQLite's is on the loop)")
        self._engine = engine
        self._pooled: PoolProxiedConnection | None = None
        self._handed_back = False
        # One statement at a time, and handing back waits for the one in flight (a lookup
        # a cancelled worker asked for may still be running at shutdown).
        self._in_use = asyncio.Lock()

    @property
    def dialect(self) -> Dialect:
        """PostgreSQL's, as the engine's statements compile for it."""
        return self._engine.dialect

    async def fetch(self, statement: DriverSelect, **values: Any) -> list[Any]:
        """The rows ``statement`` selects, given its parameters by name."""
        compiled = statement.compiled(self.dialect)
        values = {**compiled.values, **values}
        arguments = [values[name] for name in compiled.parameters]
        for position, process in compiled.bind_processors:
            arguments[position] = process(arguments[position])
        sql = compiled.sql
        records = await self._run(sql, lambda driver: driver.fetch(sql, *arguments))
        rows = [list(record) for record in records]
        for row in rows:
            for position, process in compiled.result_processors:
                row[position] = process(row[position])
        return [compiled.row(*row) for row in rows]

    async def execute(self, sql: str, arguments: Sequence[Any]) -> None:
        """Run one statement, which commits itself: outside a transaction, it is atomic."""
        await self._run(sql, lambda driver: driver.execute(sql, *arguments))

    async def hand_back(self) -> None:
        """Return the connection to the pool (at shutdown, before the engine is disposed).

        Nothing takes another afterwards: one taken after the engine is disposed would be
        left open.
        """
        self._handed_back = True
        async with self._in_use:
            await self._hand_back()

    async def _hand_back(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is None:
            return
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            await driver.execute(_SEQUENTIAL_SCANS_AGAIN)
        except BaseException as exc:
            await greenlet_spawn(pooled.invalidate)  # lost meanwhile: nothing to hand back
            if not isinstance(exc, _DRIVER_ERRORS):
                raise
            return
        await greenlet_spawn(pooled.close)

    async def _run(self, sql: str, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._in_use:
            return await self._run_alone(sql, call)

    async def _run_alone(self, sql: str, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        driver = await self._driver()
        try:
            return await call(driver)
        except Exception as exc:
            lost = driver.is_closed()
            if lost:
                await self._discard()
            if isinstance(exc, _DRIVER_ERRORS):
                raise _as_sqlalchemy_raises_it(exc, sql, self.dialect, lost=lost) from exc
            raise
        except BaseException:  # cancelled half-way: what the connection is doing is unknown
            await self._discard()
            raise

    async def _driver(self) -> asyncpg.Connection:
        pooled = self._pooled
        if pooled is not None:
            driver: asyncpg.Connection = pooled.driver_connection
            if not driver.is_closed():
                return driver
            await self._discard()  # the server ended it (a restart) while it was idle
        if self._handed_back:
            raise KeptConnectionHandedBack
        try:
            pooled = await self._engine.raw_connection()  # the pool's ping: it works
        except DBAPIError:
            raise
        except Exception as exc:  # the pool does not wrap the driver's refusal to connect
            if not isinstance(exc, (*_DRIVER_ERRORS, self.dialect.loaded_dbapi.Error)):
                raise
            raise _as_sqlalchemy_raises_it(exc, "(connect)", self.dialect, lost=True) from exc
        driver = pooled.driver_connection
        try:
            await driver.execute(_NO_SEQUENTIAL_SCANS)
        except BaseException as exc:
            await greenlet_spawn(pooled.invalidate)
            if isinstance(exc, _DRIVER_ERRORS):  # lost as soon as taken: callers try again
                raise _as_sqlalchemy_raises_it(
                    exc, _NO_SEQUENTIAL_SCANS, self.dialect, lost=True
                ) from exc
            raise
        self._pooled = pooled
        return driver

    async def _discard(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            await greenlet_spawn(pooled.invalidate)


def _as_sqlalchemy_raises_it(
    error: Exception, sql: str, dialect: Dialect, *, lost: bool
) -> DBAPIError:
    """The driver's error as SQLAlchemy's own, for callers that handle both alike."""
    dbapi = dialect.loaded_dbapi
    # The message alone, as SQLAlchemy takes it: asyncpg's str() adds PostgreSQL's DETAIL,
    # which quotes the row's values ("Key (digest)=(…) already exists").
    message = str(error.args[0]) if error.args else type(error).__name__
    adapted: Exception
    if lost:
        adapted = dbapi.OperationalError(message, error)
    elif isinstance(error, asyncpg.IntegrityConstraintViolationError):
        adapted = dbapi.IntegrityError(message, error)
    else:
        adapted = dbapi.Error(message, error)
    return DBAPIError.instance(  # type: ignore[return-value]
        sql,
        None,
        adapted,
        dbapi.Error,
        hide_parameters=True,
        dialect=dialect,
        connection_invalidated=lost,
    )


__all__ = ["DriverSelect", "KeptConnection", "KeptConnectionHandedBack"]
