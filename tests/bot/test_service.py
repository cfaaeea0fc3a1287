import asyncio

import pytest

from bot.engine import InboundKind
from bot.script import load_builtin_script
from bot.service import ConversationService
from channels.base import InboundMessage
from crypto import KeyRing, Pseudonymizer
from storage.conversations import ACTIVE, ENDED, EXPIRED, ConversationStore
from storage.engine import SessionFactory
from tests.clock import FakeClock

ADDRESS = "+15550104417"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(sessions: SessionFactory, keyring: KeyRing, clock: FakeClock) -> ConversationStore:
    return ConversationStore(sessions, keyring, clock=clock)


@pytest.fixture
def service(store: ConversationStore, keyring: KeyRing, clock: FakeClock) -> ConversationService:
    return ConversationService(
        store, Pseudonymizer.from_keyring(keyring), load_builtin_script("default"), clock=clock
    )


def text(body: str) -> InboundMessage:
    return InboundMessage(channel="sms", address=ADDRESS, kind=InboundKind.TEXT, text=body)


async def test_a_person_is_recognised_across_messages(
    service: ConversationService, store: ConversationStore
) -> None:
    first = await service.handle(text("hello"))
    second = await service.handle(text("1"))
    assert first.conversation_id == second.conversation_id
    assert second.replies[-1].text == "How can we help today?"
    transcript = await store.messages(first.conversation_id or "")
    assert [m.text for m in transcript][:1] == ["hello"]
    assert [m.sender for m in transcript].count("person") == 2


async def test_an_unanswered_question_times_out_once_even_after_a_restart(
    service: ConversationService,
    store: ConversationStore,
    keyring: KeyRing,
    clock: FakeClock,
) -> None:
    outcome = await service.handle(text("hello"))
    clock.advance(minutes=29)
    assert await service.fire_due_timers() == []

    clock.advance(minutes=1)
    # A new service object stands for a restarted process: only the database remembers.
    restarted = ConversationService(
        store, Pseudonymizer.from_keyring(keyring), load_builtin_script("default"), clock=clock
    )
    deliveries = await restarted.fire_due_timers()
    assert len(deliveries) == 1
    assert deliveries[0].address == ADDRESS
    assert [r.text for r in deliveries[0].outcome.replies] == ["Reply any time."]
    assert await restarted.fire_due_timers() == []  # fired once, not again
    conversation = await store.get(outcome.conversation_id or "")
    assert conversation.flow_state["node"] == "check_in"


async def test_a_silent_session_expires_quietly_and_the_next_message_starts_fresh(
    service: ConversationService, store: ConversationStore, clock: FakeClock
) -> None:
    first = await service.handle(text("hello"))
    await service.handle(text("1"))
    await service.handle(text("2"))  # asked for an area
    clock.advance(minutes=61)

    deliveries = await service.fire_due_timers()
    assert [d.outcome.replies for d in deliveries] == [()]
    assert deliveries[0].outcome.ended
    assert (await store.get(first.conversation_id or "")).status == EXPIRED

    again = await service.handle(text("Northside"))
    assert again.conversation_id != first.conversation_id
    assert again.replies[-1].text == "Is it safe for you to talk right now?"


async def test_writing_after_expiry_before_the_timer_ran_also_starts_fresh(
    service: ConversationService, store: ConversationStore, clock: FakeClock
) -> None:
    first = await service.handle(text("hello"))
    clock.advance(hours=2)
    again = await service.handle(text("1"))
    assert again.conversation_id != first.conversation_id
    assert (await store.get(first.conversation_id or "")).status == EXPIRED
    assert (await store.get(again.conversation_id or "")).status == ACTIVE


async def test_two_messages_at_once_are_processed_one_after_the_other(
    service: ConversationService, store: ConversationStore
) -> None:
    await service.handle(text("hello"))
    outcomes = await asyncio.gather(service.handle(text("1")), service.handle(text("2")))
    assert outcomes[0].conversation_id == outcomes[1].conversation_id
    # The first moved to the menu, the second chose its second option.
    conversation = await store.get(outcomes[0].conversation_id or "")
    assert conversation.flow_state["node"] == "support"
    assert conversation.message_count == len(await store.messages(conversation.id))


async def test_quick_exit_and_delete_wipe_and_leave_nothing(
    service: ConversationService, store: ConversationStore
) -> None:
    await service.handle(text("hello"))
    outcome = await service.handle(text("DELETE"))
    assert outcome.wiped
    assert outcome.replies == ()
    assert await store.count() == 0


async def test_ending_the_script_closes_the_conversation(
    service: ConversationService, store: ConversationStore
) -> None:
    await service.handle(text("hello"))
    await service.handle(text("1"))
    outcome = await service.handle(text("5"))  # leave
    assert outcome.ended
    assert await store.count(ENDED) == 1
    assert await service.fire_due_timers() == []


async def test_the_duress_word_freezes_the_conversation_and_stops_its_timers(
    service: ConversationService, store: ConversationStore, clock: FakeClock
) -> None:
    outcome = await service.handle(text("hello"))
    frozen = await service.handle(text("pizza"))
    assert [r.text for r in frozen.replies] == ["Thanks! Your order is confirmed."]
    conversation = await store.get(outcome.conversation_id or "")
    assert "duress" in conversation.flow_state["flags"]
    clock.advance(minutes=45)
    assert await service.fire_due_timers() == []  # no check-in message to a watched phone
