"""One statement for many rows, bound without SQLAlchemy's work on every row.

Given many rows, SQLAlchemy's ``execute`` builds a dictionary of parameters for each row and
runs each value through its column's type. For a batch of people's turns that was a sixth
of the service's CPU, most of it spent turning the one timestamp a batch shares into
SQLite's text form again for every row (docs/benchmarks.md). A :class:`ManyRows` statement
is compiled once per dialect and takes rows as tuples; each value still goes through its
column's type (the sealed-value check of an encrypted column, the timestamp's form), and a
value every row shares goes through it once.

On PostgreSQL :func:`execute_together` runs several of them as one statement (a ``WITH`` of
data-modifying parts, each taking its rows as arrays through ``unnest``): a batch of turns
then costs one round trip for its writes instead of one per table. Each statement was a
trip to the server and back, and those trips were most of a batch's time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause

from storage.engine import driver_on_the_loop

# What a column's type does to a value on its way to the driver, or back.
Processor = Callable[[Any], Any]


class _Compiled(NamedTuple):
    """A statement compiled for one dialect, and what running it needs."""

    sql: str
    # (position, the column type's bind processor), for the parameters that have one
    processors: list[tuple[int, Processor]]
    # Each parameter's type as SQL (``VARCHAR(32)``), for PostgreSQL's arrays
    kinds: list[str]


class ManyRows:
    """An INSERT or UPDATE run for many rows given as tuples, in ``parameters`` order.

    Args:
        statement: the statement; the columns it sets are the parameters named.
        parameters: the names of the values in each row, in the order the compiled
            statement takes them: the table's column order for the columns set, then any
            ``bindparam`` of the WHERE clause. A wrong order fails on first use, naming
            the right one.
    """

    def __init__(self, statement: Insert | Update, parameters: Sequence[str]) -> None:
        self._statement = statement
        self.parameters = tuple(parameters)
        self._compiled: dict[str, _Compiled] = {}
        self._unnested: dict[str, str] = {}

    async def execute(self, connection: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run the statement once for every row, in one call to the driver.

        On SQLite running on the loop the rows go straight to sqlite3, and an error comes
        back as SQLAlchemy would raise it (its parameters hidden, as everywhere).
        """
        if not rows:
            return
        sql, processors, _kinds = self._for(connection.dialect)
        bound = _bound(rows, processors)
        driver = await driver_on_the_loop(connection)
        if driver is None:
            await connection.exec_driver_sql(sql, bound)
            return
        try:
            await driver.cursor().executemany(sql, bound)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=connection.dialect
            ) from exc

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        setting = [name for name in self.parameters if name in self._statement.table.c]
        compiled = self._statement.compile(dialect=dialect, column_keys=setting)
        order = tuple(compiled.positiontup or ())
        if order != self.parameters:
            raise ValueError(f"the statement takes its parameters in this order: {order}")
        kinds = [compiled.binds[name].type.compile(dialect=dialect) for name in order]
        return _Compiled(str(compiled), bind_processors(compiled, dialect), kinds)

    def bound(self, dialect: Dialect, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The rows as the driver takes them, each value through its column's type."""
        return _bound(rows, self._for(dialect).processors)

    def bound_columns(self, dialect: Dialect, rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
        """:meth:`bound`, column by column: the arrays of :meth:`unnested`."""
        return _bound_columns(rows, self._for(dialect).processors)

    def unnested(self, dialect: Dialect, first: int) -> str:
        """This statement for every row at once, from arrays ``$first…`` (PostgreSQL).

        An INSERT becomes ``INSERT … SELECT * FROM unnest(…)``; an UPDATE, whose WHERE
        must be ``column = bindparam``, becomes ``UPDATE … FROM unnest(…) AS u(…)``.
        """
        template = self._unnested.get(dialect.name)
        if template is None:
            template = self._unnested[dialect.name] = self._unnest_template(dialect)
        return template.format(*(f"${first + i}" for i in range(len(self.parameters))))

    def _unnest_template(self, dialect: Dialect) -> str:
        kinds = self._for(dialect).kinds  # and the parameters' order checked
        setting = [name for name in self.parameters if name in self._statement.table.c]
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(f"{{{i}}}::{kind}[]" for i, kind in enumerate(kinds))
        if not isinstance(self._statement.table, Table):
            raise ValueError("a statement run together must be on a plain table")
        table = quote(self._statement.table.name)
        names = ", ".join(quote(name) for name in self.parameters)
        if isinstance(self._statement, Insert):
            # All of it compiled or quoted by SQLAlchemy: names of tables, columns and types.
            return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        where = self._statement.whereclause
        if not (
            isinstance(where, BinaryExpression)
            and where.operator is operators.eq
            and isinstance(where.left, ColumnClause)
            and isinstance(where.right, BindParameter)
        ):
            raise ValueError("an UPDATE run together must pick its row by column = bindparam")
        key = quote(where.right.key)
        sets = ", ".join(f"{quote(name)} = u.{quote(name)}" for name in setting)
        return (
            f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS u({names})"  # noqa: S608
            f" WHERE {table}.{quote(where.left.name)} = u.{key}"
        )


async def execute_together(
    connection: AsyncConnection, work: Sequence[tuple[ManyRows, Sequence[tuple[Any, ...]]]]
) -> None:
    """Run each statement for its rows: on PostgreSQL all in one, elsewhere in turn.

    In one statement every part sees the database as it was before the statement, so no
    part may update a row another part inserts, nor update one row twice: the caller
    checks. Foreign keys are checked at the end of the statement, so a part may insert rows
    that refer to another part's.
    """
    work = [(many, rows) for many, rows in work if rows]
    dialect = connection.dialect
    if dialect.name != "postgresql" or len(work) < 2:
        for many, rows in work:
            await many.execute(connection, rows)
        return
    sql, arrays = together(dialect, work)
    await connection.exec_driver_sql(sql, tuple(arrays))


def together(
    dialect: Dialect, work: Sequence[tuple[ManyRows, Sequence[tuple[Any, ...]]]]
) -> tuple[str, list[list[Any]]]:
    """The one PostgreSQL statement of :func:`execute_together`, and its arrays in order.

    For a caller that runs it on the driver itself (storage/kept_connection.py).
    """
    parts: list[str] = []
    arrays: list[list[Any]] = []
    for index, (many, rows) in enumerate((many, rows) for many, rows in work if rows):
        parts.append(f"part{index} AS ({many.unnested(dialect, len(arrays) + 1)})")
        arrays += many.bound_columns(dialect, rows)
    if not parts:
        raise ValueError("nothing to run: every statement has no rows")
    return "WITH " + ", ".join(parts) + " SELECT 1", arrays


def bind_processors(compiled: SQLCompiler, dialect: Dialect) -> list[tuple[int, Processor]]:
    """(position, its type's bind processor) for each positional parameter that has one."""
    processors: list[tuple[int, Processor]] = []
    for position, name in enumerate(compiled.positiontup or ()):
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors.append((position, processor))
    return processors


def _bound(
    rows: Sequence[tuple[Any, ...]], processors: list[tuple[int, Processor]]
) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them, each value through its column's type.

    A value the whole batch shares (the very same object: the batch's timestamp) goes
    through it once.
    """
    if not processors:
        return list(rows)
    return list(zip(*_bound_columns(rows, processors), strict=True))


def _bound_columns(
    rows: Sequence[tuple[Any, ...]], processors: list[tuple[int, Processor]]
) -> list[list[Any]]:
    """The rows' values column by column, each through its column's type (see _bound)."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for position, process in processors:
        values = columns[position]
        first = values[0]
        if all(value is first for value in values):
            columns[position] = [process(first)] * len(values)
        else:
            columns[position] = [process(value) for value in values]
    return columns


__all__ = ["ManyRows", "Processor", "bind_processors", "execute_together", "together"]
