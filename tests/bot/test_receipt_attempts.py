"""Guessing receipt codes is limited, per person and overall, and a limit looks like a miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.attempts import AttemptLimiter
from bot.engine import InboundKind
from bot.script import load_builtin_script
from bot.service import ConversationService
from channels.base import InboundMessage
from crypto import KeyRing, Pseudonymizer
from storage.conversations import ConversationStore
from storage.engine import SessionFactory
from storage.reports import ReportStore
from storage.resources import ResourceStore
from tests.clock import FakeClock

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_the_limiter_counts_per_source_and_overall_in_a_sliding_window() -> None:
    limiter = AttemptLimiter(per_source=2, overall=3, window=timedelta(hours=1))
    for _ in range(2):
        assert limiter.allowed("a", NOW)
        limiter.failed("a", NOW)
    assert not limiter.allowed("a", NOW)
    assert limiter.allowed("b", NOW)
    limiter.failed("b", NOW)
    assert not limiter.allowed("c", NOW), "three failures overall: everyone waits"
    assert limiter.allowed("a", NOW + timedelta(hours=1, seconds=1))


async def add_with_code(
    service: ConversationService, phone: str, code: str, text: str
) -> list[str]:
    said = []
    for body in ("hello", "1", "5", "2", code, text):
        outcome = await service.handle(
            InboundMessage(channel="webchat", address=phone, kind=InboundKind.TEXT, text=body)
        )
        said = [reply.text for reply in outcome.replies][:1]  # the answer, not what follows
    await service.handle(InboundMessage(channel="webchat", address=phone, kind=None))  # leave
    return said


async def test_after_too_many_wrong_codes_even_the_right_one_gets_the_same_not_found(
    sessions: SessionFactory,
    keyring: KeyRing,
    report_store: ReportStore,
    resource_store: ResourceStore,
) -> None:
    clock = FakeClock()
    service = ConversationService(
        ConversationStore(sessions, keyring, clock=clock),
        Pseudonymizer.from_keyring(keyring),
        load_builtin_script("default"),
        resources=resource_store,
        reports=report_store,
        clock=clock,
        receipt_attempts=AttemptLimiter(per_source=1, overall=10),
    )
    code = await report_store.submit("webchat", {"what": "first report"})
    (report_id,) = await report_store.ids()
    not_found = "We couldn't find that number. Please check it and try again later."

    assert await add_with_code(service, "guesser", "1111 2222 3333 4444", "x") == [not_found]
    assert await add_with_code(service, "guesser", code, "let me in") == [not_found]
    report = await report_store.get(report_id)
    assert report is not None
    assert report.additions == (), "the right code was not even checked"

    assert await add_with_code(service, "owner", code, "one more thing") == [
        "Thank you. We have added that."
    ]
    clock.advance(hours=1, seconds=1)
    assert await add_with_code(service, "guesser", code, "later") == [
        "Thank you. We have added that."
    ]
