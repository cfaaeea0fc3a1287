"""Statistics and the transparency report: real conversations counted, small counts hidden,
nothing that identifies anyone in the figures or in what is stored for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.engine import InboundKind
from channels.base import InboundMessage
from config import Settings
from handoff.statistics import Period, report, suppress
from porchlight.state import SERVICES
from storage.engine import SessionFactory
from storage.models import Handoff, StatCount, new_id
from storage.statistics import CONVERSATION_HOUR, RawCounts, StatisticsStore
from tests.factories import make_settings
from tests.handoff.conftest import SignIn

CANARY_PHONE = "+15550177321"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, totp_required_roles=())


# -- suppression ---------------------------------------------------------------------------


def test_counts_under_ten_are_hidden_and_every_key_is_listed() -> None:
    cells = suppress({"sms": 40, "webchat": 25, "telegram": 13}, ["webchat", "sms", "whatsapp"])
    assert cells == {"webchat": 25, "sms": 40, "whatsapp": None, "telegram": 13}
    # whatsapp (0) is hidden too: absent and small must look alike.


def test_hidden_counts_together_are_none_or_at_least_ten() -> None:
    # The total (48) is published: 48 - 30 - 12 would give away the 6.
    assert suppress({"a": 30, "b": 12, "c": 6}, "abc") == {"a": 30, "b": None, "c": None}
    # 3 + 2 hidden would be known to be 5: the 25 goes too, the 40 can stay.
    assert suppress({"a": 40, "b": 25, "c": 3, "d": 2}, "abcd") == {
        "a": 40,
        "b": None,
        "c": None,
        "d": None,
    }
    # Hidden zeros single nobody out: the only count stays.
    assert suppress({"sms": 15}, ["sms", "webchat", "telegram"]) == {
        "sms": 15,
        "webchat": None,
        "telegram": None,
    }


def test_medians_need_ten_values_and_the_percentile_is_nearest_rank() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30), "UTC", complete=True)
    few = RawCounts(claim_waits=[60.0] * 9)
    assert report(few, period, ["en"])["handoffs"]["minutes_to_claim"] == {
        "median": None,
        "p90": None,
    }
    waits = RawCounts(claim_waits=[60.0 * m for m in range(1, 11)])  # 1..10 minutes
    assert report(waits, period, ["en"])["handoffs"]["minutes_to_claim"] == {
        "median": 5.5,
        "p90": 9.0,
    }


# -- counted from real conversations --------------------------------------------------------


async def say(app: web.Application, text: str, phone: str) -> None:
    await app[SERVICES].conversation_service.handle(
        InboundMessage(channel="sms", address=phone, kind=InboundKind.TEXT, text=text)
    )


async def test_conversations_are_counted_by_how_they_ended_with_small_counts_hidden(
    app: web.Application, sign_in: SignIn
) -> None:
    for n in range(12):
        phone = f"+1555010{n:04d}"
        await say(app, "hello", phone)
        await say(app, "EXIT", phone)
    for n in range(3):
        phone = f"+1555020{n:04d}"
        await say(app, "hello", phone)
        await app[SERVICES].conversation_service.forget("sms", phone)  # blocked the number
    admin = await sign_in("maria", role="admin")

    status, stats = await admin.call("GET", "/statistics")
    assert status == 200
    conversations = stats["conversations"]
    assert conversations["total"] == 15
    assert conversations["by_channel"] == {
        "webchat": None,
        "sms": 15,
        "whatsapp": None,
        "telegram": None,
    }
    assert conversations["by_language"] == {"en": 15, "es": None}
    # 3 left: too few to show; and with the total shown, 15 - 12 would give the 3 away, so
    # the 12 quick exits are hidden as well.
    assert conversations["by_outcome"]["left"] is None
    assert conversations["by_outcome"]["quick_exit"] is None
    assert list(conversations["by_hour"]) == [f"{h:02d}:00" for h in range(24)]
    assert stats["handoffs"]["total"] is None
    assert stats["suppressed_below"] == 10


async def test_the_stored_counts_and_every_export_hold_no_identifier(
    app: web.Application, sign_in: SignIn
) -> None:
    await say(app, "hello", CANARY_PHONE)
    await say(app, "EXIT", CANARY_PHONE)
    admin = await sign_in("maria", role="admin")
    async with app[SERVICES].sessions() as session:
        counters = list(await session.scalars(select(StatCount)))
    assert CANARY_PHONE not in str([(c.day, c.metric, c.value, c.count) for c in counters])
    # One dimension per counter, never a row describing one conversation.
    assert sorted((c.metric, c.value, c.count) for c in counters) == [
        ("conversations.channel", "sms", 1),
        ("conversations.hour", _hour(counters), 1),
        ("conversations.language", "en", 1),
        ("conversations.outcome", "quick_exit", 1),
    ]

    json_text = await (await admin.http.get("/api/v1/statistics")).text()
    csv_response = await admin.http.get("/api/v1/statistics.csv")
    csv_text = await csv_response.text()
    page = await (await admin.http.get("/dashboard/admin/statistics/report")).text()
    for shown in (json_text, csv_text, page):
        assert CANARY_PHONE not in shown
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["Content-Disposition"]
    assert csv_text.startswith("section,item,value\r\n")
    assert "conversations,total,<10\r\n" in csv_text
    assert "<h1>Transparency report</h1>" in page
    assert "&lt;10" in page
    (exported,) = await app[SERVICES].audit.entries(action="statistics_exported")
    assert exported.actor == "maria"


async def test_periods_are_checked(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, error = await admin.call("GET", "/statistics?from=2026-11&to=2026-01")
    assert status == 400
    assert error["message"] == "'from' must not be after 'to'"
    for day_not_month in ("2026-01-01", "yesterday"):
        status, error = await admin.call("GET", f"/statistics?from={day_not_month}")
        assert status == 400
        assert "months written YYYY-MM" in error["message"]
    status, error = await admin.call("GET", "/statistics?to=2999-01")
    assert error["message"] == "'to' must not be in the future"
    too_long = await admin.http.get("/dashboard/admin/statistics/report?from=2000-01&to=2026-01")
    assert too_long.status == 400
    assert await too_long.text() == "Cannot make this report: a period is at most 120 months."
    status, stats = await admin.call("GET", "/statistics?from=2026-01&to=2026-02")
    assert status == 200
    assert stats["period"] == {
        "from": "2026-01",
        "to": "2026-02",
        "timezone": "UTC",
        "complete": True,
    }


async def test_advocates_cannot_read_statistics(sign_in: SignIn) -> None:
    advocate = await sign_in("ana")
    assert (await advocate.call("GET", "/statistics"))[0] == 403
    assert (await advocate.http.get("/api/v1/statistics.csv")).status == 403
    assert (await advocate.http.get("/dashboard/admin/statistics/report")).status == 403


# -- handoffs, read from their own table ----------------------------------------------------


async def add_handoff(
    sessions: SessionFactory, status: str, created: datetime, waited: float | None
) -> None:
    async with sessions.begin() as session:
        session.add(
            Handoff(
                id=new_id(),
                conversation_id=None,
                channel="webchat",
                alias="Contact 0000",
                status=status,
                priority="normal",
                created_at=created,
                claimed_at=created + timedelta(seconds=waited) if waited is not None else None,
                outcome="supported" if status == "closed" else None,
            )
        )


async def test_handoff_figures_time_to_claim_abandoned_and_after_hours(
    sessions: SessionFactory,
) -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for minutes in range(1, 13):  # 12 taken, after 1..12 minutes
        await add_handoff(sessions, "closed", start, minutes * 60.0)
    for _ in range(10):
        await add_handoff(sessions, "left", start, None)  # left before anyone came
    for _ in range(10):
        await add_handoff(sessions, "unanswered", start, None)
    await add_handoff(sessions, "closed", start - timedelta(days=40), 1.0)  # outside
    store = StatisticsStore(sessions, clock=lambda: start)
    for _ in range(32):
        await store.handoff_requested(after_hours=False)
    for _ in range(8):  # nobody on call at all: answered after hours at once
        await store.handoff_requested(after_hours=True)
    period = Period(date(2026, 11, 1), date(2026, 11, 30), "UTC", complete=True)
    raw = await store.counts(period.first, period.last, period.since, period.until)
    figures = report(raw, period, ["en"])["handoffs"]
    assert figures["requested"] == 40
    assert figures["after_hours_share"] == 45  # (8 at once + 10 in time) of 40
    assert figures["total"] == 32
    assert figures["by_status"]["left_waiting"] == 10
    assert figures["minutes_to_claim"] == {"median": 6.5, "p90": 11.0}
    assert figures["by_outcome"]["supported"] == 12


def _hour(counters: list[StatCount]) -> str:
    (hour,) = [c.value for c in counters if c.metric == CONVERSATION_HOUR]
    assert hour.endswith(":00")
    return hour


async def test_a_failing_count_never_stops_a_quick_exit(
    app: web.Application, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    async def broken(**_: Any) -> None:
        raise RuntimeError("statistics database full")

    monkeypatch.setattr(app[SERVICES].statistics, "conversation_finished", broken)
    await say(app, "hello", CANARY_PHONE)
    await say(app, "EXIT", CANARY_PHONE)
    assert await app[SERVICES].conversations.count() == 0
