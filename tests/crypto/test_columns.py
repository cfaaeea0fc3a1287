from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import CompileError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crypto import (
    EncryptedBytes,
    EncryptedText,
    FieldCipher,
    PlaintextRefused,
    SealedBytes,
    SealedText,
    field_aad,
)

PLAINTEXT = "call after 6, he is home by 7"

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", EncryptedText),
    Column("blob", EncryptedBytes),
)
AAD = field_aad("notes", "body", "1")
CIPHER = FieldCipher(bytes(range(32)))


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(notes))
    assert count is not None
    return count


def test_sealed_values_are_stored_and_come_back_sealed(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(notes).values(
                id=1, body=CIPHER.seal_text(PLAINTEXT, AAD), blob=CIPHER.seal_bytes(b"\x00", AAD)
            )
        )
        body, blob = connection.execute(select(notes.c.body, notes.c.blob)).one()
        raw = connection.exec_driver_sql("SELECT body FROM notes").scalar_one()
    assert isinstance(body, SealedText)
    assert isinstance(blob, SealedBytes)
    assert CIPHER.open_text(body, AAD) == PLAINTEXT
    assert CIPHER.open_bytes(blob, AAD) == b"\x00"
    assert PLAINTEXT.encode() not in raw


def test_null_stays_null(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(notes).values(id=1, body=None, blob=None))
        assert connection.execute(select(notes.c.body, notes.c.blob)).one() == (None, None)


PLAINTEXTS = [
    ("body", PLAINTEXT),
    ("body", PLAINTEXT.encode()),
    ("body", bytearray(PLAINTEXT.encode())),
    ("body", SealedBytes(b"x" * 40)),
    ("blob", PLAINTEXT.encode()),
    ("blob", PLAINTEXT),
    ("blob", SealedText(b"x" * 40)),
]


@pytest.mark.parametrize(("column", "value"), PLAINTEXTS)
def test_plaintext_is_refused_and_nothing_is_written(
    engine: Engine, column: str, value: object
) -> None:
    with pytest.raises(PlaintextRefused), engine.begin() as connection:
        connection.execute(insert(notes).values(id=1, **{column: value}))
    assert _count(engine) == 0


def test_plaintext_is_refused_in_an_update(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(notes).values(id=1, body=CIPHER.seal_text(PLAINTEXT, AAD)))
    with pytest.raises(PlaintextRefused), engine.begin() as connection:
        connection.execute(update(notes).values(body=PLAINTEXT))
    with engine.connect() as connection:
        stored = connection.scalar(select(notes.c.body))
    assert stored is not None
    assert CIPHER.open_text(stored, AAD) == PLAINTEXT


def test_plaintext_is_refused_in_a_where_clause(engine: Engine) -> None:
    with pytest.raises(PlaintextRefused), engine.connect() as connection:
        connection.execute(select(notes.c.id).where(notes.c.body == PLAINTEXT))


def test_plaintext_is_refused_when_rendered_as_a_literal() -> None:
    # Only SQL rendered with literal values (Alembic's offline mode, debugging) takes this
    # path; SQLAlchemy wraps the refusal in a CompileError of its own there.
    statement = insert(notes).values(id=1, body=PLAINTEXT)
    with pytest.raises(CompileError) as caught:
        statement.compile(compile_kwargs={"literal_binds": True})
    assert isinstance(caught.value.__cause__, PlaintextRefused)


def test_the_refusal_is_not_wrapped_with_the_statements_parameters(engine: Engine) -> None:
    # A StatementError would quote the parameters, i.e. the plaintext, into any log line.
    with pytest.raises(PlaintextRefused) as caught, engine.begin() as connection:
        connection.execute(insert(notes).values(id=1, body=PLAINTEXT))
    assert not isinstance(caught.value, StatementError)
    assert str(caught.value) == "EncryptedText needs SealedText, got str"
    assert "call after 6" not in repr(caught.value)


# --- the ORM over aiosqlite, as the stores use it -------------------------------------------


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "orm_notes"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    body: Mapped[SealedText] = mapped_column(EncryptedText)


@pytest.fixture
async def async_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


async def test_the_orm_stores_sealed_text_and_returns_it_sealed(
    async_engine: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(async_engine, expire_on_commit=False)
    aad = field_aad("orm_notes", "body", "n1")
    async with sessions.begin() as session:
        session.add(Note(id="n1", body=CIPHER.seal_text(PLAINTEXT, aad)))
    async with sessions() as session:
        note = await session.get_one(Note, "n1")
    assert isinstance(note.body, SealedText)
    assert CIPHER.open_text(note.body, aad) == PLAINTEXT


async def test_the_orm_refuses_plaintext_and_writes_nothing(async_engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(async_engine)
    with pytest.raises(PlaintextRefused) as caught:
        async with sessions.begin() as session:
            session.add(Note(id="n1", body=PLAINTEXT))
    assert "call after 6" not in str(caught.value)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Note)) == 0
