"""Handoff rules at the service level, with real stores, an SMS person and a fake clock.

SMS is the channel here because its messages leave through the outbox, where a test can
read exactly what would have been sent; web chat and the HTTP API have their own tests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.safe_window import OutsideSafeWindow
from crypto import KeyRing
from handoff.service import InvalidRequest, NotAllowed, notification_text
from storage.engine import SessionFactory
from storage.handoffs import (
    CLAIMED,
    CLOSED,
    LEFT,
    UNANSWERED,
    WAITING,
    CapacityReached,
    HandoffAlreadyClaimed,
    HandoffEnded,
    NotHolder,
)
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.users import UserStore
from tests.factories import make_settings
from tests.handoff.conftest import OTHER_PHONE, PHONE, Rig, build_rig

# --- asking for a person ----------------------------------------------------------------


async def test_with_nobody_on_call_the_person_gets_the_after_hours_message_at_once(
    rig: Rig,
) -> None:
    for text in ("hello", "1", "1", "1"):
        await rig.say(text)
    sent = await rig.outbox_texts()
    assert any("24/7" in text for text in sent)
    assert await rig.handoffs.queue() == []


async def test_with_an_advocate_on_call_the_person_waits_in_the_queue(rig: Rig) -> None:
    await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    queue = await rig.handoffs.queue()
    assert [h.id for h in queue] == [handoff_id]
    assert queue[0].alias.startswith("Contact ")
    sent = await rig.outbox_texts()
    assert not any("24/7" in text for text in sent)
    # SMS: the handoff node's message is the one holding message, no place-in-line update.
    assert "stay here" in sent[-1]
    assert not any("in line" in text for text in sent)


async def test_on_telegram_the_person_is_told_their_place_in_line_once(rig: Rig) -> None:
    await rig.advocate("ana")
    for text in ("hello", "1", "1", "1"):
        await rig.say(text, "4242", channel="telegram")
    sent = await rig.outbox_texts()
    assert sent[-1] == "You are number 1 in line. Expected wait: about 5 min."
    assert sum("in line" in text for text in sent) == 1


async def test_risk_comes_first_then_waiting_time(rig: Rig) -> None:
    await rig.advocate("ana")
    first = await rig.ask_for_a_person(PHONE)
    rig.clock.advance(minutes=1)
    for text in ("hello", "911"):
        await rig.say(text, OTHER_PHONE)
    queue = await rig.handoffs.queue()
    assert queue[0].priority == "high"
    assert queue[1].id == first
    assert notification_text(queue) == "2 conversations waiting (high priority)"


async def test_an_emergency_word_while_waiting_raises_the_priority(rig: Rig) -> None:
    await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.say("SOS")
    handoff = await rig.handoffs.get(handoff_id)
    assert handoff.priority == "high"
    assert len(await rig.handoffs.queue()) == 1  # raised, not queued twice


# --- claiming ---------------------------------------------------------------------------


async def test_two_advocates_claiming_at_once_exactly_one_wins(rig: Rig) -> None:
    ana, ben = await rig.advocate("ana"), await rig.advocate("ben")
    handoff_id = await rig.ask_for_a_person()
    results = await asyncio.gather(
        rig.service.claim(handoff_id, ana),
        rig.service.claim(handoff_id, ben),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], HandoffAlreadyClaimed)
    assert (await rig.handoffs.get(handoff_id)).status == CLAIMED


async def test_an_advocate_cannot_hold_more_than_the_cap(
    sessions: SessionFactory,
    keyring: KeyRing,
    tmp_path: Path,
    resource_store: ResourceStore,
    report_store: ReportStore,
    user_store: UserStore,
) -> None:
    settings = make_settings(tmp_path / "data", advocate_max_conversations=1)
    rig = build_rig(sessions, keyring, settings, resource_store, report_store, user_store)
    ana = await rig.advocate("ana")
    first = await rig.ask_for_a_person(PHONE)
    second = await rig.ask_for_a_person(OTHER_PHONE)
    await rig.service.claim(first, ana)
    with pytest.raises(CapacityReached):
        await rig.service.claim(second, ana)


async def test_an_advocate_cannot_read_a_conversation_someone_else_holds(rig: Rig) -> None:
    ana, ben = await rig.advocate("ana"), await rig.advocate("ben")
    handoff_id = await rig.ask_for_a_person()
    with pytest.raises(NotAllowed):
        await rig.service.transcript(handoff_id, ben)  # waiting: claim it first
    await rig.service.claim(handoff_id, ana)
    with pytest.raises(NotAllowed):
        await rig.service.transcript(handoff_id, ben)
    with pytest.raises(NotHolder):
        await rig.service.send(handoff_id, ben, "hello")
    assert await rig.service.transcript(handoff_id, ana)


async def test_reading_a_transcript_is_audited_once_per_full_read(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    await rig.service.transcript(handoff_id, ana)
    await rig.service.transcript(handoff_id, ana, after=3)  # live updates: not a new view
    views = await rig.audit.entries(action="transcript_viewed")
    assert [(v.actor, v.target) for v in views] == [("ana", handoff_id)]


# --- working the conversation -------------------------------------------------------------


async def test_while_held_the_bot_is_quiet_and_messages_go_both_ways(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    before = len(await rig.outbox_texts())
    with rig.events.subscribe(ana.id, "advocate") as subscription:
        outcome = await rig.say("are you there? 2")
        assert outcome.replies == ()
        assert len(await rig.outbox_texts()) == before  # the bot said nothing
        event = subscription.events.get_nowait()
        assert event == {"type": "message", "handoff_id": handoff_id}
    await rig.service.send(handoff_id, ana, "Yes, I'm here. You're safe to talk?")
    assert (await rig.outbox_texts())[-1] == "Yes, I'm here. You're safe to talk?"
    transcript = await rig.service.transcript(handoff_id, ana)
    assert [(m.sender, m.text) for m in transcript[-2:]] == [
        ("person", "are you there? 2"),
        ("advocate", "Yes, I'm here. You're safe to talk?"),
    ]


@pytest.mark.parametrize("word", ["EXIT", "STOP", "DELETE"])
async def test_when_the_person_leaves_the_advocate_sees_it_and_can_send_nothing(
    rig: Rig, word: str
) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    with rig.events.subscribe(ana.id, "advocate") as subscription:
        await rig.say(word)
        event = subscription.events.get_nowait()
    assert event["type"] == "contact_left"
    assert event["handoff_id"] == handoff_id
    handoff = await rig.handoffs.get(handoff_id)
    assert handoff.status == LEFT
    assert handoff.conversation_id is None  # the conversation itself is gone
    with pytest.raises(HandoffEnded):
        await rig.service.send(handoff_id, ana, "hello?")
    assert await rig.outbox_texts() == []  # wiped with the conversation, nothing queued
    assert await rig.service.transcript(handoff_id, ana) == []


async def test_the_duress_word_ends_the_handoff_with_an_innocent_reply(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    await rig.say("PIZZA")
    assert (await rig.outbox_texts())[-1] == "Thanks! Your order is confirmed."
    assert (await rig.handoffs.get(handoff_id)).status == LEFT
    with pytest.raises(HandoffEnded):
        await rig.service.send(handoff_id, ana, "are you ok?")


async def test_the_send_button_refuses_outside_the_safe_window(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    for text in ("hello", "1", "1", "4"):  # evenings, 17:00-22:00 (the clock says 02:00 UTC)
        await rig.say(text)
    (handoff,) = await rig.handoffs.queue()
    await rig.service.claim(handoff.id, ana)
    with pytest.raises(OutsideSafeWindow) as refused:
        await rig.service.send(handoff.id, ana, "hi")
    assert "17:00-22:00" in str(refused.value)
    assert "02:00" in str(refused.value)
    rig.clock.advance(hours=16)  # 18:00
    await rig.service.send(handoff.id, ana, "hi")
    assert (await rig.outbox_texts())[-1] == "hi"


async def test_notes_are_private_and_go_with_the_conversation(rig: Rig) -> None:
    ana, ben = await rig.advocate("ana"), await rig.advocate("ben")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    await rig.service.add_note(handoff_id, ana, "Has a safe friend nearby.")
    with pytest.raises(NotAllowed):
        await rig.service.notes(handoff_id, ben)
    assert [n.text for n in await rig.service.notes(handoff_id, ana)] == [
        "Has a safe friend nearby."
    ]
    await rig.say("EXIT")
    assert await rig.service.notes(handoff_id, ana) == []


async def test_a_warm_transfer_moves_the_conversation_without_greeting_again(rig: Rig) -> None:
    ana, ben = await rig.advocate("ana"), await rig.advocate("ben")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    sent_before = await rig.outbox_texts()
    with rig.events.subscribe(ben.id, "advocate") as subscription:
        await rig.service.transfer(handoff_id, ana, ben.id, "Wants legal info; calm now.")
        assert subscription.events.get_nowait()["type"] == "transferred"
    assert (await rig.handoffs.get(handoff_id)).claimed_by == ben.id
    assert await rig.outbox_texts() == sent_before  # the person is not greeted again
    notes = await rig.service.notes(handoff_id, ben)
    assert [(n.kind, n.author, n.text) for n in notes] == [
        ("transfer", "ana", "Wants legal info; calm now.")
    ]
    with pytest.raises(NotHolder):
        await rig.service.send(handoff_id, ana, "still me")


async def test_a_transfer_needs_an_available_advocate(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    away = await rig.advocate("cy", available=False)
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    with pytest.raises(InvalidRequest):
        await rig.service.transfer(handoff_id, ana, away.id, "over to you")


async def test_closing_sends_nothing_on_sms_unless_the_advocate_writes_something(
    rig: Rig,
) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    before = await rig.outbox_texts()
    closed = await rig.service.close(handoff_id, ana, "supported", None)
    assert closed.status == CLOSED
    assert closed.outcome == "supported"
    assert await rig.outbox_texts() == before
    with pytest.raises(HandoffEnded):
        await rig.service.send(handoff_id, ana, "one more thing")
    # The person's next message starts afresh with the bot.
    await rig.say("hello")
    greeted = Counter(await rig.outbox_texts()) - Counter(before)
    assert any("private" in text for text in greeted)


async def test_closing_with_a_last_message_sends_it(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    await rig.service.close(handoff_id, ana, "referred", "Take care. Text any time.")
    assert (await rig.outbox_texts())[-1] == "Take care. Text any time."


async def test_an_unknown_outcome_is_refused_and_nothing_changes(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    with pytest.raises(InvalidRequest, match="outcome must be one of"):
        await rig.service.close(handoff_id, ana, "solved-it", None)
    assert (await rig.handoffs.get(handoff_id)).status == CLAIMED


# --- offers, escalation, after hours -------------------------------------------------------


async def test_offers_go_to_one_available_advocate_then_the_next(rig: Rig) -> None:
    ana, ben = await rig.advocate("ana"), await rig.advocate("ben")
    offline = await rig.advocate("cy", available=False)
    handoff_id = await rig.ask_for_a_person()
    with (
        rig.events.subscribe(ana.id, "advocate") as to_ana,
        rig.events.subscribe(ben.id, "advocate") as to_ben,
        rig.events.subscribe(offline.id, "advocate") as to_cy,
    ):
        await rig.service.tick()
        first = (await rig.handoffs.get(handoff_id)).offered_to
        rig.clock.advance(seconds=61)
        await rig.presence.heartbeat(ana.id)
        await rig.presence.heartbeat(ben.id)
        await rig.service.tick()
        second = (await rig.handoffs.get(handoff_id)).offered_to
        offers = [e for q in (to_ana, to_ben) for e in _drain(q.events) if e["type"] == "offer"]
        assert not [e for e in _drain(to_cy.events) if e["type"] == "offer"]
    assert {first, second} == {ana.id, ben.id}
    assert [o["text"] for o in offers] == ["1 conversation waiting"] * 2


async def test_a_closed_dashboard_stops_being_offered_anything(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    rig.clock.advance(minutes=3)  # no heartbeat for longer than two minutes
    with rig.events.subscribe(ana.id, "advocate") as to_ana:
        await rig.service.tick()
        events = _drain(to_ana.events)
    assert {"type": "availability", "available": False} in events
    assert not [e for e in events if e["type"] == "offer"]
    assert (await rig.handoffs.get(handoff_id)).offered_to is None
    # With nobody left on call, the person is not left waiting either.
    assert (await rig.handoffs.get(handoff_id)).status == UNANSWERED


async def test_unclaimed_handoffs_escalate_to_admins(rig: Rig) -> None:
    await rig.advocate("ana")
    admin = await rig.advocate("root", available=False, role="admin")
    handoff_id = await rig.ask_for_a_person()
    with rig.events.subscribe(admin.id, "admin") as to_admin:
        for _ in range(4):  # a minute at a time, with the advocate's dashboard still open
            rig.clock.advance(minutes=1)
            await rig.presence.heartbeat((await rig.presence.everyone())[0].user_id)
            await rig.service.tick()
        escalations = [e for e in _drain(to_admin.events) if e["type"] == "escalated"]
    assert escalations == [{"type": "escalated", "text": "1 conversation waiting"}]
    assert (await rig.handoffs.get(handoff_id)).escalated_at is not None


async def test_nobody_claiming_in_time_sends_the_after_hours_message(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    for _ in range(10):
        rig.clock.advance(minutes=1)
        await rig.presence.heartbeat(ana.id)
        await rig.service.tick()
    handoff = await rig.handoffs.get(handoff_id)
    assert handoff.status == UNANSWERED
    assert any("24/7" in text for text in await rig.outbox_texts())
    with pytest.raises(HandoffEnded):
        await rig.service.claim(handoff_id, ana)
    # The bot speaks again: the person can leave an anonymous report instead.
    await rig.say("1")
    assert any("name" in text for text in (await rig.outbox_texts())[-2:])


async def test_when_every_advocate_goes_offline_the_waiting_person_is_told_at_once(
    rig: Rig,
) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.presence.set_available(ana.id, False)
    await rig.service.tick()
    assert (await rig.handoffs.get(handoff_id)).status == UNANSWERED
    assert any("24/7" in text for text in await rig.outbox_texts())


async def test_a_session_that_expires_while_waiting_ends_the_handoff(rig: Rig) -> None:
    ana = await rig.advocate("ana")
    handoff_id = await rig.ask_for_a_person()
    await rig.service.claim(handoff_id, ana)
    rig.clock.advance(minutes=61)
    await rig.conversations.fire_due_timers()
    assert (await rig.handoffs.get(handoff_id)).status == LEFT
    assert (await rig.handoffs.get(handoff_id)).status != WAITING


def _drain(queue: asyncio.Queue[dict[str, object]]) -> list[dict[str, object]]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


def test_notification_text_names_no_one() -> None:
    assert notification_text([]) == "0 conversations waiting"
