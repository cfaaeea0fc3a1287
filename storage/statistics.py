"""Counts for the statistics and the transparency report: never content, never identifiers.

Conversations and reports are counted as :class:`~storage.models.StatEvent` rows when they
finish (or are made), carrying only a channel, a language, an outcome or category, and the
hour they began: no conversation id, so a count cannot be followed back to a person, and
the counts outlive retention and quick exits. Handoffs are read from their own table, which
already holds nothing personal (an alias, a channel, times, an outcome).

This store returns raw counts; small ones are suppressed by ``handoff/statistics.py``
before anyone sees them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from storage.engine import SessionFactory
from storage.models import Handoff, StatEvent, new_id, utcnow

CONVERSATION, REPORT = "conversation", "report"


def hour_of(moment: datetime) -> datetime:
    """The start of the hour: all the precision the statistics keep."""
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class RawCounts:
    """Counts over a period, before suppression."""

    conversations_by_channel: Counter[str] = field(default_factory=Counter)
    conversations_by_language: Counter[str] = field(default_factory=Counter)
    conversations_by_outcome: Counter[str] = field(default_factory=Counter)
    conversations_by_hour: Counter[datetime] = field(default_factory=Counter)  # UTC hours
    reports_by_category: Counter[str] = field(default_factory=Counter)
    reports_by_channel: Counter[str] = field(default_factory=Counter)
    handoffs_by_status: Counter[str] = field(default_factory=Counter)
    handoffs_by_outcome: Counter[str] = field(default_factory=Counter)
    handoffs_by_channel: Counter[str] = field(default_factory=Counter)
    claim_waits: list[float] = field(default_factory=list)  # seconds, claimed ones
    abandoned_waiting: int = 0  # left before anyone took them


class StatisticsStore:
    """Writes count events and reads counts over a period."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def conversation_finished(
        self, *, channel: str, language: str, outcome: str, started_at: datetime
    ) -> None:
        """Count one finished conversation (by when it began, cut to the hour)."""
        await self._add(CONVERSATION, hour_of(started_at), channel, language, outcome, None)

    async def report_made(self, *, channel: str, category: str) -> None:
        """Count one report (a new one, or an addition to one)."""
        await self._add(REPORT, hour_of(self._clock()), channel, None, None, category)

    async def _add(
        self,
        kind: str,
        hour: datetime,
        channel: str,
        language: str | None,
        outcome: str | None,
        category: str | None,
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(
                StatEvent(
                    id=new_id(),
                    kind=kind,
                    hour=hour,
                    channel=channel,
                    language=language,
                    outcome=outcome,
                    category=category,
                )
            )

    async def counts(self, since: datetime, until: datetime) -> RawCounts:
        """Everything counted in ``[since, until)``."""
        raw = RawCounts()
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    StatEvent.kind,
                    StatEvent.hour,
                    StatEvent.channel,
                    StatEvent.language,
                    StatEvent.outcome,
                    StatEvent.category,
                    func.count(),
                )
                .where(StatEvent.hour >= hour_of(since), StatEvent.hour < until)
                .group_by(
                    StatEvent.kind,
                    StatEvent.hour,
                    StatEvent.channel,
                    StatEvent.language,
                    StatEvent.outcome,
                    StatEvent.category,
                )
            )
            for kind, hour, channel, language, outcome, category, n in rows:
                if kind == CONVERSATION:
                    raw.conversations_by_channel[channel] += n
                    raw.conversations_by_language[language or "unknown"] += n
                    raw.conversations_by_outcome[outcome or "unknown"] += n
                    raw.conversations_by_hour[_utc(hour)] += n
                elif kind == REPORT:
                    raw.reports_by_category[category or "unknown"] += n
                    raw.reports_by_channel[channel] += n
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
                raw.handoffs_by_status[status] += 1
                if outcome:
                    raw.handoffs_by_outcome[outcome] += 1
                if claimed_at is not None:
                    raw.claim_waits.append((claimed_at - created_at) / timedelta(seconds=1))
                elif status == "left":
                    raw.abandoned_waiting += 1
        return raw


def _utc(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
