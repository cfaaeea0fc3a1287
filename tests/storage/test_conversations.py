import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from config import Settings
from crypto import DecryptError, KeyRing, UnknownKeyError
from storage.conversations import (
    ACTIVE,
    ENDED,
    ConversationKeyDestroyed,
    ConversationNotFound,
    ConversationStore,
    ConversationView,
    NewMessage,
)
from storage.engine import SessionFactory, create_engine, create_session_factory, sqlite_files
from storage.inbound import AlreadyHandled, InboundLedger
from storage.turn_rows import TurnRows
from tests.postgres import whole_suite_on_postgres

CANARY_TEXT = "canary-plum-4417 the garage code is 8812"
CANARY_ADDRESS = "+15550104417"
# On PostgreSQL the service keeps a connection for lookups and one for first turns; the
# store's tests run both ways there. SQLite has nothing to keep.
CONNECTIONS = ["pooled", "kept"] if whole_suite_on_postgres() else ["pooled"]


@pytest.fixture(params=CONNECTIONS)
async def conversation_store(
    request: pytest.FixtureRequest, sessions: SessionFactory, keyring: KeyRing
) -> AsyncIterator[ConversationStore]:
    store = ConversationStore(sessions, keyring, keep_connections=request.param == "kept")
    yield store
    await store.hand_back_connections()


async def _conversation(store: ConversationStore, pseudonym: str = "p" * 64) -> str:
    view = await store.start_conversation(
        channel="sms",
        pseudonym=pseudonym,
        reply_address=CANARY_ADDRESS,
        script="default",
        flow_state={"node": "welcome", "answers": {"area": CANARY_TEXT}},
    )
    await store.record_turn(
        view.id,
        flow_state={"node": "menu", "answers": {"area": CANARY_TEXT}},
        status=ACTIVE,
        messages=[
            NewMessage("in", "person", CANARY_TEXT),
            NewMessage("out", "bot", "How can we help today?"),
        ],
    )
    return view.id


async def test_a_turn_round_trips_decrypted(conversation_store: ConversationStore) -> None:
    conversation_id = await _conversation(conversation_store)

    view = await conversation_store.get(conversation_id)
    assert view.reply_address == CANARY_ADDRESS
    assert view.flow_state == {"node": "menu", "answers": {"area": CANARY_TEXT}}
    assert view.message_count == 2
    assert view.alias.startswith("Contact ")
    assert len(view.alias) == len("Contact 7F3A")
    messages = await conversation_store.messages(conversation_id)
    assert [(m.seq, m.direction, m.sender, m.text) for m in messages] == [
        (1, "in", "person", CANARY_TEXT),
        (2, "out", "bot", "How can we help today?"),
    ]


async def test_the_person_finds_their_conversation_by_pseudonym_only(
    conversation_store: ConversationStore,
) -> None:
    conversation_id = await _conversation(conversation_store, pseudonym="a" * 64)

    found = await conversation_store.find_active("sms", "a" * 64)
    assert found is not None
    assert found.id == conversation_id
    assert await conversation_store.find_active("sms", "b" * 64) is None
    assert await conversation_store.find_active("telegram", "a" * 64) is None

    await conversation_store.record_turn(conversation_id, flow_state={}, status=ENDED, messages=[])
    assert await conversation_store.find_active("sms", "a" * 64) is None


async def test_destroying_the_data_key_makes_the_conversation_unreadable(
    conversation_store: ConversationStore,
) -> None:
    conversation_id = await _conversation(conversation_store)

    assert await conversation_store.destroy_key(conversation_id)

    with pytest.raises(ConversationKeyDestroyed):
        await conversation_store.get(conversation_id)
    with pytest.raises(ConversationKeyDestroyed):
        await conversation_store.messages(conversation_id)


async def test_wipe_removes_every_row_and_leaves_no_plaintext_behind(
    conversation_store: ConversationStore, settings
) -> None:
    conversation_id = await _conversation(conversation_store)
    other_id = await _conversation(conversation_store, pseudonym="o" * 64)

    assert await conversation_store.wipe(conversation_id)

    with pytest.raises(ConversationNotFound):
        await conversation_store.get(conversation_id)
    assert await conversation_store.count() == 1
    assert (await conversation_store.get(other_id)).reply_address == CANARY_ADDRESS
    assert not await conversation_store.wipe(conversation_id)  # twice is harmless
    for path in sqlite_files(settings.database_url):
        assert CANARY_TEXT.encode() not in path.read_bytes()


@pytest.mark.sqlite_only
async def test_a_database_copied_without_the_key_reveals_nothing(
    conversation_store: ConversationStore, settings, tmp_path: Path
) -> None:
    conversation_id = await _conversation(conversation_store)

    stolen_dir = tmp_path / "stolen"
    stolen_dir.mkdir()
    for path in sqlite_files(settings.database_url):
        shutil.copy(path, stolen_dir / path.name)
    for path in stolen_dir.iterdir():
        raw = path.read_bytes()
        for canary in (CANARY_TEXT, CANARY_ADDRESS, "garage code", "15550104417"):
            assert canary.encode() not in raw
            assert canary.encode("utf-16-le") not in raw

    # With the database but another master key, nothing opens.
    stolen_url = f"sqlite+aiosqlite:///{stolen_dir}/porchlight.db"
    engine = create_engine(stolen_url)
    try:
        thief = ConversationStore(create_session_factory(engine), KeyRing.generate())
        with pytest.raises(UnknownKeyError):
            await thief.get(conversation_id)
    finally:
        await engine.dispose()


async def test_a_value_moved_to_another_row_fails_to_decrypt(
    conversation_store: ConversationStore, sessions
) -> None:
    from storage.models import Conversation

    first = await _conversation(conversation_store, pseudonym="1" * 64)
    second = await _conversation(conversation_store, pseudonym="2" * 64)
    async with sessions.begin() as session:
        a = await session.get(Conversation, first)
        b = await session.get(Conversation, second)
        b.flow_state = a.flow_state  # ciphertext swapped between rows

    with pytest.raises(DecryptError):
        await conversation_store.get(second)


async def test_recording_a_turn_for_a_wiped_conversation_is_refused(
    conversation_store: ConversationStore,
) -> None:
    conversation_id = await _conversation(conversation_store)
    await conversation_store.wipe(conversation_id)

    with pytest.raises(ConversationNotFound):
        await conversation_store.record_turn(
            conversation_id,
            flow_state={},
            status=ACTIVE,
            messages=[NewMessage("in", "person", "x")],
        )


async def test_a_delivery_is_recorded_with_its_turn_and_a_second_turn_for_it_is_refused(
    conversation_store: ConversationStore, sessions: SessionFactory, keyring: KeyRing
) -> None:
    delivery = InboundLedger(sessions, keyring).delivery("sms", "SM0001")
    draft = conversation_store.draft(
        channel="sms", pseudonym="p" * 64, reply_address=CANARY_ADDRESS, script="default",
        flow_state={},
    )  # fmt: skip
    assert await conversation_store.find_for_turn("sms", "p" * 64, delivery) == (None, False)
    hello = [NewMessage("in", "person", "hello")]
    await conversation_store.start_with_turn(
        draft, flow_state={}, status=ACTIVE, messages=hello, delivery=delivery
    )
    assert await conversation_store.find_for_turn("sms", "p" * 64, delivery) == (None, True)

    # Another instance handled the same delivery at the same moment: its turn is refused
    # whole, and the conversation holds the first turn only.
    with pytest.raises(AlreadyHandled):
        await conversation_store.record_turn(
            draft.id, flow_state={"moved": True}, status=ACTIVE, messages=hello,
            delivery=delivery,
        )  # fmt: skip
    assert [m.text for m in await conversation_store.messages(draft.id)] == ["hello"]
    assert (await conversation_store.get(draft.id)).flow_state == {}


def _drafts(store: ConversationStore, count: int) -> list[ConversationView]:
    return [
        store.draft(
            channel="sms",
            pseudonym=f"{n:064d}",
            reply_address=f"+1555010{n:04d}",
            script="default",
            flow_state={},
        )
        for n in range(count)
    ]


def _count_batches(store: ConversationStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch of turns stored together from now on."""
    sizes: list[int] = []
    together = store._store_together

    async def counted(turns: Sequence[Any]) -> Any:
        sizes.append(len(turns))
        return await together(turns)

    monkeypatch.setattr(store, "_store_together", counted)
    return sizes


async def test_many_people_writing_at_once_are_stored_together_each_whole(
    conversation_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _count_batches(conversation_store, monkeypatch)
    drafts = _drafts(conversation_store, 20)

    await asyncio.gather(
        *(
            conversation_store.start_with_turn(
                draft,
                flow_state={"n": n},
                status=ACTIVE,
                messages=[NewMessage("in", "person", f"hello {n}"), NewMessage("out", "bot", "hi")],
                outbox=['{"text": "hi", "options": []}'],
            )
            for n, draft in enumerate(drafts)
        )
    )

    assert sum(batches) == 20
    assert max(batches) > 1, "stored one by one"
    for n, draft in enumerate(drafts):
        view = await conversation_store.get(draft.id)
        assert (view.reply_address, view.flow_state) == (f"+1555010{n:04d}", {"n": n})
        said = [(m.seq, m.text) for m in await conversation_store.messages(draft.id)]
        assert said == [(1, f"hello {n}"), (2, "hi")]


async def _still_here_together(store: ConversationStore, *conversation_ids: str) -> list[Any]:
    """A turn on each conversation at the same moment; each one's outcome or error."""
    return await asyncio.gather(
        *(
            store.record_turn(
                conversation_id,
                flow_state={"after": True},
                status=ACTIVE,
                messages=[NewMessage("in", "person", "still here")],
            )
            for conversation_id in conversation_ids
        ),
        return_exceptions=True,
    )


async def test_in_a_batch_a_turn_on_a_wiped_conversation_fails_alone(
    conversation_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await _conversation(conversation_store, "k" * 64)
    wiped = await _conversation(conversation_store, "w" * 64)
    await conversation_store.wipe(wiped)
    batches = _count_batches(conversation_store, monkeypatch)

    results = await _still_here_together(conversation_store, kept, wiped)

    assert batches == [2]
    assert results[0] is None
    assert isinstance(results[1], ConversationNotFound)
    assert [m.text for m in await conversation_store.messages(kept)][-1] == "still here"
    assert (await conversation_store.get(kept)).flow_state == {"after": True}


async def test_in_a_batch_a_delivery_recorded_meanwhile_refuses_only_its_own_turn(
    conversation_store: ConversationStore,
    sessions: SessionFactory,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = InboundLedger(sessions, keyring)
    deliveries = [ledger.delivery("sms", f"SM{n:04d}") for n in range(5)]
    await ledger.record(deliveries[3])  # another instance handled this one at the same moment
    drafts = _drafts(conversation_store, 5)
    batches = _count_batches(conversation_store, monkeypatch)

    results = await asyncio.gather(
        *(
            conversation_store.start_with_turn(
                draft,
                flow_state={},
                status=ACTIVE,
                messages=[NewMessage("in", "person", "hi")],
                delivery=delivery,
            )
            for draft, delivery in zip(drafts, deliveries, strict=True)
        ),
        return_exceptions=True,
    )

    assert batches == [5]  # refused as a whole, then stored one by one
    assert [type(result) for result in results] == [type(None)] * 3 + [AlreadyHandled, type(None)]
    assert sorted(await conversation_store.ids()) == sorted(
        draft.id for n, draft in enumerate(drafts) if n != 3
    )
    for delivery in deliveries:  # every delivery is recorded, by its turn or beforehand
        assert await conversation_store.find_for_turn("sms", "x" * 64, delivery) == (None, True)


async def test_two_turns_of_one_conversation_in_one_batch_follow_each_other(
    conversation_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation_id = await _conversation(conversation_store)  # two messages so far
    batches = _count_batches(conversation_store, monkeypatch)

    await asyncio.gather(
        *(
            conversation_store.record_turn(
                conversation_id,
                flow_state={"turn": n},
                status=ACTIVE,
                messages=[
                    NewMessage("in", "person", f"in {n}"),
                    NewMessage("out", "bot", f"out {n}"),
                ],
            )
            for n in (1, 2)
        )
    )

    assert batches == [2]
    said = [(m.seq, m.text) for m in await conversation_store.messages(conversation_id)]
    assert said[2:] == [(3, "in 1"), (4, "out 1"), (5, "in 2"), (6, "out 2")]
    view = await conversation_store.get(conversation_id)
    assert (view.message_count, view.flow_state) == (6, {"turn": 2})


async def test_people_looked_up_together_each_find_their_own(
    conversation_store: ConversationStore, sessions: SessionFactory, keyring: KeyRing
) -> None:
    first, second = (
        await _conversation(conversation_store, "a" * 64),
        await _conversation(conversation_store, "b" * 64),
    )
    handled = InboundLedger(sessions, keyring).delivery("sms", "SM0001")
    await InboundLedger(sessions, keyring).record(handled)

    found = await asyncio.gather(
        conversation_store.find_for_turn("sms", "a" * 64, None),
        conversation_store.find_for_turn("sms", "b" * 64, "not handled"),
        conversation_store.find_for_turn("sms", "c" * 64, None),
        conversation_store.find_for_turn("sms", "a" * 64, handled),
        conversation_store.find_for_turn("whatsapp", "b" * 64, None),
    )

    assert [(view.id if view else None, seen) for view, seen in found] == [
        (first, False),
        (second, False),
        (None, False),
        (None, True),
        (None, False),
    ]


async def test_in_a_batch_a_turn_whose_key_is_damaged_fails_alone(
    conversation_store: ConversationStore,
    sessions: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = await _conversation(conversation_store, "k" * 64)
    damaged = await _conversation(conversation_store, "d" * 64)
    async with sessions.begin() as session:
        wrapped = await session.scalar(
            text("SELECT wrapped_key FROM conversation_keys WHERE conversation_id = :id"),
            {"id": damaged},
        )
        await session.execute(
            text("UPDATE conversation_keys SET wrapped_key = :key WHERE conversation_id = :id"),
            {"key": bytes(wrapped[:-1]) + bytes([wrapped[-1] ^ 1]), "id": damaged},
        )
    batches = _count_batches(conversation_store, monkeypatch)

    results = await _still_here_together(conversation_store, kept, damaged)

    assert batches == [2]  # refused as a whole, then stored one by one
    assert results[0] is None
    assert isinstance(results[1], DecryptError)
    assert [m.text for m in await conversation_store.messages(kept)][-1] == "still here"


async def test_a_batch_the_database_refuses_fails_each_of_its_turns_at_once(
    conversation_store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    drafts = _drafts(conversation_store, 3)
    refused = OperationalError("INSERT", {}, Exception("database is locked"))

    async def locked(*_args: Any, **_kwargs: Any) -> None:
        raise refused

    alone: list[Any] = []
    store_alone = conversation_store._store_alone

    async def counted(turn: Any) -> None:
        alone.append(turn)
        await store_alone(turn)

    monkeypatch.setattr(TurnRows, "write", locked)
    monkeypatch.setattr(TurnRows, "insert_on", locked)  # first turns on a kept connection
    monkeypatch.setattr(conversation_store, "_store_alone", counted)

    results = await asyncio.gather(
        *(
            conversation_store.start_with_turn(draft, flow_state={}, status=ACTIVE, messages=())
            for draft in drafts
        ),
        return_exceptions=True,
    )

    assert results == [refused] * 3
    assert alone == [], "each turn alone would only have waited as long again"
    assert await conversation_store.count() == 0


@pytest.mark.sqlite_only
async def test_a_turn_waits_for_another_process_that_is_writing_and_is_then_stored(
    conversation_store: ConversationStore, settings: Settings
) -> None:
    conversation_id = await _conversation(conversation_store)
    other = sqlite3.connect(sqlite_files(settings.database_url)[0], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # `porchlight purge` in another process, say
    try:
        turn = asyncio.create_task(
            conversation_store.record_turn(
                conversation_id,
                flow_state={},
                status=ACTIVE,
                messages=[NewMessage("in", "person", "are you there")],
            )
        )
        await asyncio.sleep(0.3)
        assert not turn.done(), "it should have waited for the lock"
        other.execute("COMMIT")
        await asyncio.wait_for(turn, timeout=5)
    finally:
        other.close()
    assert [m.text for m in await conversation_store.messages(conversation_id)][-1] == (
        "are you there"
    )
