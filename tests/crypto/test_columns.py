from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from crypto import (
    EncryptedBytes,
    EncryptedText,
    FieldCipher,
    PlaintextRefused,
    SealedBytes,
    SealedText,
    field_aad,
)

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", EncryptedText),
    Column("blob", EncryptedBytes),
)
AAD = field_aad("notes", "body", "1")


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_sealed_values_are_stored_and_come_back_sealed(engine: Engine) -> None:
    cipher = FieldCipher(bytes(32))
    with engine.begin() as connection:
        connection.execute(
            insert(notes).values(
                id=1,
                body=cipher.seal_text("call after 6", AAD),
                blob=cipher.seal_bytes(b"\x00", AAD),
            )
        )
        body, blob = connection.execute(select(notes.c.body, notes.c.blob)).one()
    assert isinstance(body, SealedText)
    assert isinstance(blob, SealedBytes)
    assert cipher.open_text(body, AAD) == "call after 6"
    assert cipher.open_bytes(blob, AAD) == b"\x00"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", "call after 6"),
        ("body", b"call after 6"),
        ("body", SealedBytes(b"x" * 40)),
        ("blob", b"raw bytes"),
        ("blob", SealedText(b"x" * 40)),
    ],
)
def test_plaintext_is_refused_and_nothing_is_written(
    engine: Engine, column: str, value: object
) -> None:
    with pytest.raises(StatementError) as caught, engine.begin() as connection:
        connection.execute(insert(notes).values(id=1, **{column: value}))
    assert isinstance(caught.value.orig, PlaintextRefused)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(notes)) == 0
