"""Counts for the statistics and the transparency report: never content, never identifiers.

What is counted goes into daily counters, one dimension at a time
(:class:`~storage.models.StatCount`): on day D, N conversations on SMS; on day D, M in
Spanish; on day D, K that began between 03:00 and 04:00. Never a row per conversation, so
counters cannot be joined back into one person's channel, language, outcome and hour, and
they outlive retention and quick exits without keeping anything that leads to a person.
Conversations are counted on the day they finish, so a month's figures are final once it is
over. Handoff figures are read from the handoff records (times, status, outcome tag).

This store returns raw counts; small ones are suppressed by ``handoff/statistics.py``
before anyone sees them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import SessionFactory
from storage.models import Handoff, StatCount, utcnow

# Metrics (dimensions) counted per day.
CONVERSATION_CHANNEL = "conversations.channel"
CONVERSATION_LANGUAGE = "conversations.language"
CONVERSATION_OUTCOME = "conversations.outcome"
CONVERSATION_HOUR = "conversations.hour"  # hour of day they began, "03:00"
REPORT_CATEGORY = "reports.category"
REPORT_CHANNEL = "reports.channel"
HANDOFF_REQUEST = "handoffs.requested"  # queued, or after_hours at once


@dataclass(slots=True)
class RawCounts:
    """Counts over a period, before suppression."""

    metrics: dict[str, Counter[str]] = field(default_factory=dict)
    handoffs_by_status: Counter[str] = field(default_factory=Counter)
    handoffs_by_outcome: Counter[str] = field(default_factory=Counter)
    handoffs_by_channel: Counter[str] = field(default_factory=Counter)
    claim_waits: list[float] = field(default_factory=list)  # seconds, for those taken

    def metric(self, name: str) -> Counter[str]:
        """One dimension's counts (empty when nothing was counted)."""
        return self.metrics.get(name, Counter())


class StatisticsStore:
    """Adds to daily counters and reads counts over a period."""

    def __init__(
        self,
        sessions: SessionFactory,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    async def conversation_finished(
        self, *, channel: str, language: str, outcome: str, started_at: datetime
    ) -> None:
        """Count one finished conversation, today, in each dimension separately."""
        began = started_at.astimezone(self._zone)
        await self._add(
            {
                CONVERSATION_CHANNEL: channel,
                CONVERSATION_LANGUAGE: language,
                CONVERSATION_OUTCOME: outcome,
                CONVERSATION_HOUR: f"{began.hour:02d}:00",
            }
        )

    async def report_made(self, *, channel: str, category: str) -> None:
        """Count one report (a new one, or an addition to one)."""
        await self._add({REPORT_CATEGORY: category, REPORT_CHANNEL: channel})

    async def handoff_requested(self, *, after_hours: bool) -> None:
        """Count one request for a person: queued, or answered after hours at once."""
        await self._add({HANDOFF_REQUEST: "after_hours" if after_hours else "queued"})

    async def _add(self, values: dict[str, str]) -> None:
        today = self._clock().astimezone(self._zone).date()
        async with self._sessions.begin() as session:
            for metric, value in values.items():
                await _increment(session, today, metric, value[:32])

    async def counts(self, first: date, last: date, since: datetime, until: datetime) -> RawCounts:
        """Counters of the days ``first``..``last``; handoffs begun in ``[since, until)``."""
        raw = RawCounts()
        async with self._sessions() as session:
            rows = await session.execute(
                select(StatCount.metric, StatCount.value, func.sum(StatCount.count))
                .where(StatCount.day >= first, StatCount.day <= last)
                .group_by(StatCount.metric, StatCount.value)
            )
            for metric, value, total in rows:
                raw.metrics.setdefault(metric, Counter())[value] += int(total)
            handoffs = await session.execute(
                select(
                    Handoff.channel,
                    Handoff.status,
                    Handoff.outcome,
                    Handoff.created_at,
                    Handoff.claimed_at,
                ).where(Handoff.created_at >= since, Handoff.created_at < until)
            )
            for channel, status, outcome, created_at, claimed_at in handoffs:
                raw.handoffs_by_channel[channel] += 1
                if status == "left":  # before anyone took it, or during the chat
                    status = "left_waiting" if claimed_at is None else "left_in_chat"
                raw.handoffs_by_status[status] += 1
                if outcome:
                    raw.handoffs_by_outcome[outcome] += 1
                if claimed_at is not None:
                    raw.claim_waits.append((claimed_at - created_at) / timedelta(seconds=1))
        return raw


async def _increment(session: AsyncSession, day: date, metric: str, value: str) -> None:
    """Add one to a counter, creating it at one (an upsert both databases understand)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(StatCount).values(day=day, metric=metric, value=value, count=1)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[StatCount.day, StatCount.metric, StatCount.value],
            set_={"count": StatCount.count + 1},
        )
    )
