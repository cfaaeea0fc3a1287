"""Retention: after RETENTION_DAYS untouched, conversations and reports are gone, bytes too."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from config import Settings
from crypto import KeyRing, ReceiptHasher
from storage.conversations import ACTIVE, ConversationStore, ConversationView, NewMessage
from storage.engine import (
    SessionFactory,
    create_engine,
    create_session_factory,
    engine_of,
    hand_back_free_pages,
    sqlite_files,
    write_transaction,
)
from storage.handoffs import LEFT, UNANSWERED, HandoffStore
from storage.inbound import InboundLedger
from storage.models import Conversation
from storage.outbox import DeletionQueue, OutboxStore
from storage.reports import ReportStore
from storage.retention import RetentionStore
from storage.users import UserStore
from tests.clock import FakeClock
from tests.test_privacy import find_canaries

pytestmark = pytest.mark.privacy

CANARY_TEXT = "canary-fig-6203 he took my passport"
CANARY_AREA = "Canarytown-North-7781"
KEEP = timedelta(days=90)


@pytest.mark.sqlite_only
async def test_everything_untouched_for_the_retention_period_is_deleted_to_the_byte(
    sessions: SessionFactory,
    keyring: KeyRing,
    settings: Settings,
    insecure_receipt_hasher: ReceiptHasher,
    user_store: UserStore,
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    reports = ReportStore(sessions, keyring, insecure_receipt_hasher, clock=clock)
    handoffs = HandoffStore(sessions, keyring, clock=clock)
    ledger = InboundLedger(sessions, keyring, clock=clock)
    old = await conversations.start_conversation(
        channel="sms",
        pseudonym="a" * 64,
        reply_address="+15550104417",
        script="default",
        flow_state={"results": {"area": CANARY_AREA}},
    )
    await conversations.record_turn(
        old.id,
        flow_state={"results": {"area": CANARY_AREA}},
        status=ACTIVE,
        messages=[NewMessage("in", "person", CANARY_TEXT)],
        outbox=['{"text": "ok", "options": []}'],
    )
    handoff, _ = await handoffs.open_handoff(
        conversation_id=old.id, channel="sms", alias=old.alias, priority="normal"
    )
    advocate = await user_store.add_user(username="ana", role="advocate", password="p" * 12)
    await handoffs.add_note(handoff, advocate.id, CANARY_TEXT)
    await reports.submit("sms", {"what": CANARY_TEXT})
    assert await ledger.record(ledger.delivery("sms", "SM0001"))

    # The canaries are only ever stored encrypted, so look for the old rows' ciphertexts
    # too: they must not survive in freed pages or the WAL either.
    queries = [
        "SELECT body FROM messages",
        "SELECT body FROM handoff_notes",
        "SELECT body FROM reports",
        "SELECT wrapped_key FROM conversation_keys",
    ]
    async with sessions() as session:
        sealed = [bytes(row[0]) for query in queries for row in await session.execute(text(query))]
    assert len(sealed) >= 4

    clock.advance(days=89)
    recent = await conversations.start_conversation(
        channel="sms", pseudonym="b" * 64, reply_address="+15550104418", script="default",
        flow_state={},
    )  # fmt: skip
    clock.advance(days=2)  # the first is now 91 days untouched, the second 2

    purged = await RetentionStore(sessions, clock=clock).purge(KEEP)

    assert (purged.conversations, purged.reports, purged.inbound_ids) == (1, 1, 1)
    assert await conversations.ids() == [recent.id]
    assert await reports.count() == 0
    ended = await handoffs.get(handoff.id)
    assert (ended.status, ended.conversation_id) == (LEFT, None)
    assert await ledger.record(ledger.delivery("sms", "SM0001")), "forgotten: a replay is new again"
    files = sqlite_files(settings.database_url)
    assert files
    for path in files:
        content = path.read_bytes()
        assert find_canaries(content) == [], path
        assert not [blob for blob in sealed if blob in content], path


@pytest.mark.sqlite_only
async def test_a_purge_hands_the_pages_it_freed_back_to_the_file_system(
    sessions: SessionFactory, keyring: KeyRing, settings: Settings
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    for number in range(40):
        view = await conversations.start_conversation(
            channel="webchat", pseudonym=f"{number:064}", reply_address="x", script="default",
            flow_state={},
        )  # fmt: skip
        await conversations.record_turn(
            view.id, flow_state={}, status=ACTIVE,
            messages=[NewMessage("in", "person", "x" * 3000) for _ in range(5)],
        )  # fmt: skip
    database = sqlite_files(settings.database_url)[0]
    pages_before = await _pragma(sessions, "page_count")
    clock.advance(days=91)

    assert (await RetentionStore(sessions, clock=clock).purge(KEEP)).conversations == 40

    page_size = await _pragma(sessions, "page_size")
    pages_after = await _pragma(sessions, "page_count")
    assert await _pragma(sessions, "freelist_count") == 0
    freed_at_least = 40 * 5 * 3000 * 8 // 10 // page_size
    assert pages_after <= pages_before - freed_at_least, (pages_before, pages_after)
    assert database.stat().st_size == pages_after * page_size  # and the WAL is copied back


async def _pragma(sessions: SessionFactory, name: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(text(f"PRAGMA {name}")) or 0)


async def test_a_purge_with_nothing_old_changes_nothing(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    kept = await conversations.start_conversation(
        channel="webchat", pseudonym="c" * 64, reply_address="t", script="default", flow_state={}
    )
    purged = await RetentionStore(sessions, clock=clock).purge(KEEP)
    assert purged.conversations == 0
    assert (await conversations.get(kept.id)).id == kept.id


async def test_reports_can_be_kept_for_a_different_time(
    sessions: SessionFactory, keyring: KeyRing, insecure_receipt_hasher: ReceiptHasher
) -> None:
    clock = FakeClock()
    reports = ReportStore(sessions, keyring, insecure_receipt_hasher, clock=clock)
    await reports.submit("sms", {"what": "something happened"})
    clock.advance(days=100)
    retention = RetentionStore(sessions, clock=clock)
    assert (await retention.purge(KEEP, keep_reports=timedelta(days=365))).reports == 0
    assert await reports.count() == 1
    clock.advance(days=266)
    assert (await retention.purge(KEEP, keep_reports=timedelta(days=365))).reports == 1


async def test_purging_sms_conversations_asks_twilio_to_delete_its_copies(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    for channel, sid in (("sms", "SMa1"), ("webchat", None)):
        view = await conversations.start_conversation(
            channel=channel, pseudonym=(channel * 16)[:64], reply_address="x", script="default",
            flow_state={},
        )  # fmt: skip
        await conversations.record_turn(
            view.id,
            flow_state={},
            status=ACTIVE,
            messages=[NewMessage("in", "person", "hello", sid)],
        )
    clock.advance(days=91)
    await RetentionStore(sessions, clock=clock).purge(KEEP)
    deletions = DeletionQueue(sessions, clock=clock)
    jobs = await deletions.claim_due()
    assert [(job.channel, job.provider_ids) for job in jobs] == [("sms", ("SMa1",))]


async def test_a_purge_queues_both_sides_copies_each_once_under_fresh_ids(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    outbox = OutboxStore(sessions, keyring, clock=clock)
    for number in range(3):
        view = await conversations.start_conversation(
            channel="whatsapp", pseudonym=f"{number}" * 64, reply_address="x", script="default",
            flow_state={},
        )  # fmt: skip
        await conversations.record_turn(
            view.id,
            flow_state={},
            status=ACTIVE,
            # Twilio gave the person's two messages one id: one deletion is enough.
            messages=[
                NewMessage("in", "person", "hello", f"SMin{number}"),
                NewMessage("in", "person", "again", f"SMin{number}"),
            ],
            outbox=['{"text": "hi"}'],
        )
        (reply,) = await outbox.due()
        assert await outbox.start_sending(reply.id)
        await outbox.mark_sent(reply.id, f"SMout{number}")
    clock.advance(days=91)
    await RetentionStore(sessions, clock=clock).purge(KEEP)

    (job,) = await DeletionQueue(sessions, clock=clock).claim_due()
    assert job.channel == "whatsapp"
    assert sorted(job.provider_ids) == sorted(
        f"SM{side}{number}" for side in ("in", "out") for number in range(3)
    )
    assert re.fullmatch("[0-9a-f]{32}", job.id)  # a fresh random id


async def test_a_purge_packs_provider_ids_into_jobs_of_fifty_per_channel(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    expected: dict[str, set[str]] = {"sms": set(), "whatsapp": set()}
    for number in range(63):
        channel = "sms" if number < 60 else "whatsapp"
        view = await conversations.start_conversation(
            channel=channel, pseudonym=f"{number:064}", reply_address="x", script="default",
            flow_state={},
        )  # fmt: skip
        sid = f"SM{number:032x}"
        expected[channel].add(sid)
        await conversations.record_turn(
            view.id, flow_state={}, status=ACTIVE, messages=[NewMessage("in", "person", "hi", sid)]
        )
    clock.advance(days=91)
    await RetentionStore(sessions, clock=clock).purge(KEEP)

    jobs = await DeletionQueue(sessions, clock=clock).claim_due(max_ids=1000)
    sizes = sorted((job.channel, len(job.provider_ids)) for job in jobs)
    assert sizes == [("sms", 10), ("sms", 50), ("whatsapp", 3)]
    for channel, sids in expected.items():
        queued = [sid for job in jobs if job.channel == channel for sid in job.provider_ids]
        assert sorted(queued) == sorted(sids)  # every id, each once
    assert len({job.id for job in jobs}) == 3


async def purge_while_a_person_writes(
    sessions: SessionFactory, keyring: KeyRing, purging: SessionFactory
) -> None:
    """Two expired conversations; one person writes as the purge (through ``purging``) runs."""
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    returning, _ = [
        await conversations.start_conversation(
            channel="sms",
            pseudonym=letter * 64,
            reply_address="x",
            script="default",
            flow_state={},
        )
        for letter in "ab"
    ]
    clock.advance(days=91)
    # Connections already open, as in a running service: a new SQLite connection would wait
    # for the writer while it sets itself up, hiding the race this test is about.
    async with sessions() as one, sessions() as two, purging() as three:
        await one.execute(text("SELECT 1"))
        await two.execute(text("SELECT 1"))
        await three.execute(text("SELECT 1"))
    writing, finish_writing = asyncio.Event(), asyncio.Event()

    async def turn() -> None:  # the person's turn, part way through when the purge starts
        async with write_transaction(engine_of(sessions)) as connection:
            await connection.execute(
                update(Conversation)
                .where(Conversation.id == returning.id)
                .values(last_activity_at=clock())
            )
            writing.set()
            await finish_writing.wait()

    turn_task = asyncio.create_task(turn())
    await writing.wait()
    purge = asyncio.create_task(RetentionStore(purging, clock=clock).purge(KEEP))
    await asyncio.sleep(0.3)  # the purge chooses its conversations now, or waits to
    finish_writing.set()
    await turn_task

    assert (await purge).conversations == 1
    assert await conversations.ids() == [returning.id]  # the other one is gone


async def test_a_person_who_writes_while_the_purge_runs_keeps_their_conversation(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    await purge_while_a_person_writes(sessions, keyring, purging=sessions)


async def test_a_person_who_writes_while_porchlight_purge_runs_beside_keeps_it(
    sessions: SessionFactory, keyring: KeyRing, settings: Settings
) -> None:
    # `porchlight purge` is another process: its own engine, not in the service's write line.
    other_process = create_engine(settings.database_url)
    try:
        await purge_while_a_person_writes(
            sessions, keyring, purging=create_session_factory(other_process)
        )
    finally:
        await other_process.dispose()


@pytest.mark.sqlite_only
async def test_handing_back_free_pages_ends_on_a_database_made_without_auto_vacuum(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    made = sqlite3.connect(database)  # auto_vacuum left at NONE, as before it was set
    made.execute("CREATE TABLE t (x BLOB)")
    made.executemany("INSERT INTO t VALUES (?)", [(b"x" * 3000,) for _ in range(50)])
    made.execute("DELETE FROM t")
    made.commit()
    made.close()
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await asyncio.wait_for(hand_back_free_pages(engine), timeout=5)
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA freelist_count"))  # kept, not looped on
    finally:
        await engine.dispose()


async def test_a_provider_id_that_cannot_be_queued_is_skipped_and_the_purge_goes_on(
    sessions: SessionFactory, keyring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    view = await conversations.start_conversation(
        channel="sms", pseudonym="s" * 64, reply_address="x", script="default", flow_state={}
    )
    said = [NewMessage("in", "person", "a", "SM good"), NewMessage("in", "person", "b", "SMok")]
    await conversations.record_turn(view.id, flow_state={}, status=ACTIVE, messages=said)
    clock.advance(days=91)

    with caplog.at_level("WARNING", logger="storage.retention"):
        assert (await RetentionStore(sessions, clock=clock).purge(KEEP)).conversations == 1

    (job,) = await DeletionQueue(sessions, clock=clock).claim_due()
    assert job.provider_ids == ("SMok",)
    assert "1 provider ids could not be queued" in caplog.text
    assert "SM good" not in caplog.text  # an id, but still not for the log


@pytest.mark.sqlite_only  # SQLite runs a batch's statements itself, in one trip
async def test_a_purge_that_fails_part_way_leaves_everything_as_it_was(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    handoffs = HandoffStore(sessions, keyring, clock=clock)
    view = await conversations.start_conversation(
        channel="sms", pseudonym="f" * 64, reply_address="x", script="default", flow_state={}
    )
    said = [NewMessage("in", "person", "still here", "SMf1")]
    await conversations.record_turn(view.id, flow_state={}, status=ACTIVE, messages=said)
    handoff, _ = await handoffs.open_handoff(
        conversation_id=view.id, channel="sms", alias=view.alias, priority="normal"
    )
    clock.advance(days=91)
    async with sessions.begin() as session:  # the batch's last statement will fail
        await session.execute(
            text(
                "CREATE TRIGGER refuse BEFORE DELETE ON conversations"
                " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        )

    with pytest.raises(DBAPIError, match="disk on fire") as failed:
        await RetentionStore(sessions, clock=clock).purge(KEEP)

    # After the handoff was ended and the messages deleted, all undone
    assert str(failed.value.statement).startswith("DELETE FROM conversations")
    assert [m.text for m in await conversations.messages(view.id)] == ["still here"]
    assert (await handoffs.get(handoff.id)).status == handoff.status


async def _start_webchat(conversations: ConversationStore, letter: str) -> ConversationView:
    """A new web-chat conversation of the person whose pseudonym is ``letter`` repeated."""
    return await conversations.start_conversation(
        channel="webchat", pseudonym=letter * 64, reply_address="x", script="default",
        flow_state={},
    )  # fmt: skip


async def test_a_purge_ends_open_handoffs_as_expired_and_keeps_them_for_statistics(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    handoffs = HandoffStore(sessions, keyring, clock=clock)
    opened = []
    for letter in "gh":
        view = await _start_webchat(conversations, letter)
        handoff, _ = await handoffs.open_handoff(
            conversation_id=view.id, channel="webchat", alias=view.alias, priority="normal"
        )
        opened.append(handoff)
    waiting, unanswered = opened
    await handoffs.end_handoff(unanswered.id, UNANSWERED, "after hours")
    clock.advance(days=91)

    assert (await RetentionStore(sessions, clock=clock).purge(KEEP)).conversations == 2

    ended = await handoffs.get(waiting.id)
    assert (ended.status, ended.outcome, ended.conversation_id) == (LEFT, "expired", None)
    assert ended.ended_at == clock()
    async with sessions() as session:  # stored as every other timestamp is
        stored = {
            row.id: str(row.ended_at)
            for row in await session.execute(text("SELECT id, ended_at FROM handoffs"))
        }
    assert re.sub("[0-9]", "0", stored[waiting.id]) == re.sub("[0-9]", "0", stored[unanswered.id])
    kept = await handoffs.get(unanswered.id)  # ended before: as it was, but for its conversation
    assert (kept.status, kept.outcome, kept.conversation_id) == (UNANSWERED, "after hours", None)
    assert kept.ended_at is not None
    assert kept.ended_at < clock()


async def test_the_retention_period_is_kept_to_the_microsecond(
    sessions: SessionFactory, keyring: KeyRing
) -> None:
    clock = FakeClock()
    conversations = ConversationStore(sessions, keyring, clock=clock)
    started = []
    for letter in "jk":
        started.append(await _start_webchat(conversations, letter))
        clock.advance(microseconds=1)
    _older, younger = started
    clock.now = clock.now - timedelta(microseconds=1) + KEEP  # the younger one: exactly KEEP

    assert (await RetentionStore(sessions, clock=clock).purge(KEEP)).conversations == 1
    assert await conversations.ids() == [younger.id]
