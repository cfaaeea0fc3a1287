"""Statistics and the transparency report: real conversations counted, small counts hidden,
nothing that identifies anyone in the figures or in what is stored for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.engine import InboundKind
from channels.base import InboundMessage
from config import Settings
from handoff.statistics import Period, report, suppress
from porchlight.state import SERVICES
from storage.engine import SessionFactory
from storage.models import Handoff, StatEvent, new_id
from storage.statistics import RawCounts, StatisticsStore
from tests.factories import make_settings
from tests.handoff.conftest import SignIn

CANARY_PHONE = "+15550177321"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, totp_required_roles=())


# -- suppression ---------------------------------------------------------------------------


def test_counts_under_ten_are_hidden_and_every_key_is_listed() -> None:
    cells = suppress({"sms": 40, "webchat": 25, "telegram": 3}, ["webchat", "sms", "whatsapp"])
    assert cells["sms"] == 40
    assert cells["webchat"] == 25
    assert cells["telegram"] is None
    assert cells["whatsapp"] is None  # zero is hidden too: absent and small look alike


def test_a_lone_hidden_count_takes_the_next_smallest_with_it() -> None:
    # The total (48) is published: 48 - 30 - 12 would give away the 6.
    cells = suppress({"a": 30, "b": 12, "c": 6}, ["a", "b", "c"])
    assert cells == {"a": 30, "b": None, "c": None}


def test_medians_need_ten_values_and_the_percentile_is_nearest_rank() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30), "UTC")
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
    # Spanish (0) is hidden, and with two languages and the total shown, English would give
    # it away: hidden too.
    assert conversations["by_language"] == {"en": None, "es": None}
    assert conversations["by_outcome"]["quick_exit"] == 12
    assert conversations["by_outcome"]["left"] is None  # 3: too few to show
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
        (event,) = await session.scalars(select(StatEvent))
    stored = [getattr(event, c.key) for c in StatEvent.__table__.columns]
    assert CANARY_PHONE not in str(stored)
    assert (event.hour.minute, event.hour.second) == (0, 0)  # time cut to the hour
    assert {event.channel, event.language, event.outcome} == {"sms", "en", "quick_exit"}

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
    status, error = await admin.call("GET", "/statistics?from=2026-11-20&to=2026-11-01")
    assert status == 400
    assert error["message"] == "'from' must not be after 'to'"
    status, error = await admin.call("GET", "/statistics?from=yesterday")
    assert status == 400
    assert "YYYY-MM-DD" in error["message"]
    too_long = await admin.http.get("/dashboard/admin/statistics/report?from=2000-01-01")
    assert too_long.status == 400
    assert await too_long.text() == "Cannot make this report: a period is at most 3660 days."
    status, stats = await admin.call("GET", "/statistics?from=2026-01-01&to=2026-01-31")
    assert status == 200
    assert stats["period"] == {"from": "2026-01-01", "to": "2026-01-31", "timezone": "UTC"}


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
    period = Period(date(2026, 11, 1), date(2026, 11, 30), "UTC")
    raw = await StatisticsStore(sessions).counts(period.since, period.until)
    figures = report(raw, period, ["en"])["handoffs"]
    assert figures["total"] == 32
    assert figures["claimed"] == 12
    assert figures["abandoned_waiting"] == 10
    assert figures["after_hours_share"] == 31  # 10 of 32
    assert figures["minutes_to_claim"] == {"median": 6.5, "p90": 11.0}
    assert figures["by_outcome"]["supported"] == 12
