import asyncio
from collections.abc import Callable

import pytest

from bot.engine import InboundKind
from bot.script import load_builtin_script
from bot.service import ConversationService
from channels.base import InboundMessage
from crypto import KeyRing, Pseudonymizer
from storage.conversations import ACTIVE, ENDED, EXPIRED, ConversationStore
from storage.engine import SessionFactory
from storage.reports import ReportStore
from storage.resources import ResourceStore
from tests.clock import FakeClock

ADDRESS = "+15550104417"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(sessions: SessionFactory, keyring: KeyRing, clock: FakeClock) -> ConversationStore:
    return ConversationStore(sessions, keyring, clock=clock)


@pytest.fixture
def make_service(
    store: ConversationStore,
    keyring: KeyRing,
    clock: FakeClock,
    resource_store: ResourceStore,
    report_store: ReportStore,
) -> Callable[[], ConversationService]:
    def make() -> ConversationService:
        return ConversationService(
            store,
            Pseudonymizer.from_keyring(keyring),
            load_builtin_script("default"),
            resources=resource_store,
            reports=report_store,
            clock=clock,
        )

    return make


@pytest.fixture
def service(make_service: Callable[[], ConversationService]) -> ConversationService:
    return make_service()


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
    make_service: Callable[[], ConversationService],
    clock: FakeClock,
) -> None:
    outcome = await service.handle(text("hello"))
    clock.advance(minutes=29)
    assert await service.fire_due_timers() == []

    clock.advance(minutes=1)
    # A new service object stands for a restarted process: only the database remembers.
    restarted = make_service()
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
    outcome = await service.handle(text("6"))  # leave: no feedback question on SMS
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


async def test_a_report_made_by_web_can_be_added_to_by_sms_and_the_code_is_never_stored(
    service: ConversationService, store: ConversationStore, report_store: ReportStore
) -> None:
    web = "webchat-session"

    async def on_web(body: str) -> list[str]:
        message = InboundMessage("webchat", web, InboundKind.TEXT, body)
        return [r.text for r in (await service.handle(message)).replies]

    for answer in ("hi", "1", "5", "1", "canary-lime-3131", "yesterday", "Centro", "2", "2"):
        said = await on_web(answer)
    receipt = next(t for t in said if t.startswith("Your reference number is "))
    code = receipt.removeprefix("Your reference number is ")[:19]

    for answer in ("hello", "1", "5", "2", code, "he phoned again"):
        said = [r.text for r in (await service.handle(text(answer))).replies]
    assert said[0] == "Thank you. We have added that."

    (report_id,) = await report_store.ids()
    report = await report_store.get(report_id)
    assert report is not None
    assert report.fields["what"] == "canary-lime-3131"
    assert report.additions == ("he phoned again",)

    kept = [
        message
        for conversation_id in await store.ids()
        for message in await store.messages(conversation_id)
    ]
    for message in kept:
        assert code.replace(" ", "") not in message.text.replace(" ", "")
    typed = [m for m in kept if m.text == "[receipt code]"]
    assert [m.sender for m in typed] == ["person"]
    shown = [m for m in kept if "[receipt code]" in m.text and m.sender == "bot"]
    assert len(shown) == 1


async def test_a_wrong_code_gets_the_same_careful_answer(service: ConversationService) -> None:
    for answer in ("hello", "1", "5", "2", "1111 2222 3333 4444", "more"):
        said = [r.text for r in (await service.handle(text(answer))).replies]
    assert said[0] == "We couldn't find that number. Please check it and try again later."


async def test_support_lists_places_for_the_area_given(service: ConversationService) -> None:
    for answer in ("hello", "1", "2", "Lakeview"):
        said = [r.text for r in (await service.handle(text(answer))).replies]
    assert said[:3] == [
        "Some places that can help:",
        "Lakeview Counselling Collective (demo): 555-0105 (Tue-Sun 12-8)",
        "Harbour Support Line (demo): 555-0101 (24/7)",
    ]


async def test_exit_after_expiry_still_wipes_everything_of_that_person(
    service: ConversationService, store: ConversationStore, clock: FakeClock
) -> None:
    await service.handle(text("hello"))
    await service.handle(text("1"))
    await service.handle(text("6"))  # ended
    await service.handle(text("hello again"))
    clock.advance(hours=3)  # the second one expires
    other = InboundMessage("sms", "+15550100999", InboundKind.TEXT, "hi")
    await service.handle(other)
    assert await store.count() == 3

    outcome = await service.handle(text("EXIT"))

    assert outcome.wiped
    assert await store.count() == 1  # only the other person's conversation is left


async def test_a_message_arriving_as_its_conversation_is_purged_starts_a_new_one(
    service: ConversationService,
    store: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = await service.handle(text("hello"))
    find_for_turn = store.find_for_turn

    async def purged_right_after_lookup(*args: object, **kwargs: object) -> object:
        found = await find_for_turn(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.undo()
        await store.wipe(old.conversation_id or "")  # the retention purge got there first
        return found

    monkeypatch.setattr(store, "find_for_turn", purged_right_after_lookup)
    outcome = await service.handle(text("are you there"))

    assert outcome.conversation_id not in (None, old.conversation_id)
    assert outcome.replies  # answered, as anyone writing for the first time is
    assert await store.ids() == [outcome.conversation_id]
    said = [m.text for m in await store.messages(outcome.conversation_id or "")]
    assert said[0] == "are you there"
