"""Many rows in one statement: every value still goes through its column's type."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crypto import PlaintextRefused, SealedText
from storage.engine import run_on_the_loop, write_transaction
from storage.many_rows import ManyRows, execute_together
from storage.models import Conversation, ProcessedInbound

LEDGER: Table = ProcessedInbound.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
INSERT_LEDGER = ManyRows(insert(LEDGER), ("digest", "received_at"))
CONVERSATION_COLUMNS = (
    "id", "channel", "pseudonym", "status", "script", "reply_address", "flow_state",
    "message_count", "created_at", "last_activity_at", "timer_due_at",
)  # fmt: skip
INSERT_CONVERSATIONS = ManyRows(insert(CONVERSATIONS), CONVERSATION_COLUMNS)


def conversation(number: int, flow_state: bytes, at: datetime) -> tuple[object, ...]:
    return (
        f"{number:032x}", "sms", f"{number:064x}", "active", "default", None, flow_state,
        0, at, at, None,
    )  # fmt: skip


async def test_rows_are_stored_as_each_column_stores_them(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=-5)))  # the same moment
    async with engine.begin() as connection:
        await INSERT_LEDGER.execute(connection, [("a" * 64, at), ("b" * 64, elsewhere)])
        rows = (await connection.execute(select(LEDGER).order_by(LEDGER.c.digest))).all()
    assert [tuple(row) for row in rows] == [("a" * 64, at), ("b" * 64, at)]


async def test_an_encrypted_column_refuses_plain_bytes_even_beside_an_equal_sealed_value(
    engine: AsyncEngine,
) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    sealed = SealedText(b"\x01" + b"n" * 40)
    with pytest.raises(PlaintextRefused):
        async with engine.begin() as connection:
            await INSERT_CONVERSATIONS.execute(
                connection, [conversation(1, sealed, at), conversation(2, bytes(sealed), at)]
            )
    async with engine.connect() as connection:
        assert (await connection.execute(select(CONVERSATIONS))).all() == []


async def test_an_update_sets_each_row_it_names(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    state = SealedText(b"\x01" + b"s" * 40)
    set_status = ManyRows(
        update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("row")), ("status", "row")
    )
    async with engine.begin() as connection:
        await INSERT_CONVERSATIONS.execute(
            connection, [conversation(n, state, at) for n in (1, 2, 3)]
        )
        await set_status.execute(connection, [("ended", f"{1:032x}"), ("expired", f"{3:032x}")])
        statuses = await connection.execute(
            select(CONVERSATIONS.c.status).order_by(CONVERSATIONS.c.id)
        )
        assert list(statuses.scalars()) == ["ended", "active", "expired"]


async def test_parameters_in_another_order_than_the_statement_takes_are_refused(
    engine: AsyncEngine,
) -> None:
    backwards = ManyRows(insert(LEDGER), ("received_at", "digest"))
    async with engine.begin() as connection:
        with pytest.raises(ValueError, match=r"\('digest', 'received_at'\)"):
            await backwards.execute(connection, [(datetime.now(UTC), "c" * 64)])


async def test_no_rows_is_no_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await ManyRows(insert(LEDGER), ("no", "such", "columns")).execute(connection, [])


async def test_a_clash_is_raised_as_sqlalchemy_raises_it_with_its_values_hidden(
    engine: AsyncEngine,
) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    secret_digest = "canary-digest-" + "7" * 50

    async def insert_twice(on_the_loop: bool) -> None:
        async with write_transaction(engine) as connection:
            if on_the_loop:
                await run_on_the_loop(connection)
            await INSERT_LEDGER.execute(connection, [(secret_digest, at), (secret_digest, at)])

    for on_the_loop in (False, True):
        with pytest.raises(IntegrityError) as raised:
            await insert_twice(on_the_loop)
        assert secret_digest not in str(raised.value)
    async with engine.connect() as connection:
        assert (await connection.execute(select(LEDGER))).all() == []


@pytest.mark.sqlite_only
async def test_on_the_loop_the_rows_go_to_sqlite_with_no_trip_to_its_thread(
    engine: AsyncEngine,
) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    async with write_transaction(engine) as connection:
        await run_on_the_loop(connection)
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        trips = 0
        run_on_thread = driver._execute

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal trips
            trips += 1
            return await run_on_thread(*args, **kwargs)

        driver._execute = counted
        await INSERT_LEDGER.execute(connection, [("d" * 64, at), ("e" * 64, at)])
    assert trips == 0
    async with engine.connect() as connection:
        assert len((await connection.execute(select(LEDGER))).all()) == 2


SET_STATUS = ManyRows(
    update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("row")), ("status", "row")
)


async def test_statements_run_together_store_what_each_would_alone(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    state = SealedText(b"\x01" + b"s" * 40)
    async with engine.begin() as connection:
        await INSERT_CONVERSATIONS.execute(connection, [conversation(1, state, at)])
    statements: list[str] = []
    remember = _remember(statements)
    event.listen(engine.sync_engine, "before_cursor_execute", remember)

    async with engine.begin() as connection:
        await execute_together(
            connection,
            [
                (INSERT_LEDGER, [("a" * 64, at), ("b" * 64, at + timedelta(seconds=1))]),
                (INSERT_CONVERSATIONS, [conversation(2, state, at), conversation(3, state, at)]),
                (INSERT_CONVERSATIONS, []),  # nothing to do: no part for it
                (SET_STATUS, [("ended", f"{1:032x}")]),
            ],
        )
    event.remove(engine.sync_engine, "before_cursor_execute", remember)

    async with engine.connect() as connection:
        ledger = (await connection.execute(select(LEDGER).order_by(LEDGER.c.digest))).all()
        stored = (await connection.execute(select(CONVERSATIONS).order_by("id"))).all()
    assert [tuple(row) for row in ledger] == [("a" * 64, at), ("b" * 64, at + timedelta(seconds=1))]
    assert [(row.id[-1], row.status, bytes(row.flow_state), row.created_at) for row in stored] == [
        ("1", "ended", bytes(state), at),
        ("2", "active", bytes(state), at),
        ("3", "active", bytes(state), at),
    ]
    # On PostgreSQL one round trip for all of it; elsewhere a statement each.
    expected = 1 if engine.dialect.name == "postgresql" else 3
    assert len(statements) == expected


async def test_statements_run_together_fail_together_and_leave_nothing(
    engine: AsyncEngine,
) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    state = SealedText(b"\x01" + b"s" * 40)
    async with engine.begin() as connection:
        await INSERT_LEDGER.execute(connection, [("c" * 64, at)])

    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await execute_together(
                connection,
                [
                    (INSERT_CONVERSATIONS, [conversation(4, state, at)]),
                    (INSERT_LEDGER, [("d" * 64, at), ("c" * 64, at)]),  # "c" is there already
                ],
            )

    async with engine.connect() as connection:
        assert (await connection.execute(select(CONVERSATIONS))).all() == []
        assert list((await connection.execute(select(LEDGER.c.digest))).scalars()) == ["c" * 64]


def test_an_update_run_together_must_name_its_row_by_one_column() -> None:
    dialect = postgresql.asyncpg.dialect()
    by_status = ManyRows(
        update(CONVERSATIONS).where(CONVERSATIONS.c.status != bindparam("was")), ("status", "was")
    )

    assert SET_STATUS.unnested(dialect, first=3) == (
        "UPDATE conversations SET status = u.status FROM unnest($3::VARCHAR(16)[],"
        " $4::VARCHAR(32)[]) AS u(status, row) WHERE conversations.id = u.row"
    )
    with pytest.raises(ValueError, match="column = bindparam"):
        by_status.unnested(dialect, first=1)


def _remember(statements: list[str]) -> Callable[..., None]:
    def remember(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    return remember
