"""The on-call rota's storage: weekly shifts and one-off overrides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from storage.engine import SessionFactory
from storage.models import RotaOverride, RotaShift, User, new_id

MAX_OVERRIDE_DAYS = 366
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Shift:
    """Every week on ``weekday`` (0 = Monday), from ``start`` to ``end`` minutes after midnight.

    An ``end`` at or before ``start`` runs past midnight into the next day (22:00-06:00).
    """

    user_id: str
    weekday: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Override:
    """A one-off change between two instants: on call (cover) or off (leave, sickness)."""

    id: str
    user_id: str
    starts_at: datetime
    ends_at: datetime
    on_call: bool


class InvalidShift(ValueError):
    """A shift or override that does not make sense (bad day, time or order)."""


class RotaStore:
    """Reads and replaces shifts, adds and removes overrides."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def shifts(self) -> list[Shift]:
        """Every weekly shift."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RotaShift).order_by(RotaShift.weekday, RotaShift.start_minute)
            )
            return [Shift(r.user_id, r.weekday, r.start_minute, r.end_minute) for r in rows]

    async def set_weekly(self, user_id: str, shifts: Sequence[Shift]) -> None:
        """Replace one person's weekly shifts (all checked first: nothing half-saved)."""
        for shift in shifts:
            if shift.user_id != user_id:
                raise InvalidShift("every shift must belong to the person being set")
            if not 0 <= shift.weekday <= 6:
                raise InvalidShift("weekday must be 0 (Monday) to 6 (Sunday)")
            if not (0 <= shift.start < MINUTES_PER_DAY and 0 < shift.end <= MINUTES_PER_DAY):
                raise InvalidShift("shifts start before 24:00 and end after 00:00")
            if shift.start == shift.end:
                raise InvalidShift("a shift cannot start and end at the same time")
        async with self._sessions.begin() as session:
            if await session.get(User, user_id) is None:
                raise InvalidShift("no such account")
            await session.execute(delete(RotaShift).where(RotaShift.user_id == user_id))
            for shift in shifts:
                session.add(
                    RotaShift(
                        id=new_id(),
                        user_id=user_id,
                        weekday=shift.weekday,
                        start_minute=shift.start,
                        end_minute=shift.end,
                    )
                )

    async def overrides(self, after: datetime | None = None) -> list[Override]:
        """Overrides (those not yet over at ``after``, when given), earliest first."""
        query = select(RotaOverride).order_by(RotaOverride.starts_at)
        if after is not None:
            query = query.where(RotaOverride.ends_at > after)
        async with self._sessions() as session:
            return [
                Override(r.id, r.user_id, r.starts_at, r.ends_at, r.on_call)
                for r in await session.scalars(query)
            ]

    async def add_override(
        self, user_id: str, starts_at: datetime, ends_at: datetime, on_call: bool
    ) -> Override:
        """Add a one-off change; it must end after it starts and last at most a year."""
        if ends_at <= starts_at:
            raise InvalidShift("an override must end after it starts")
        if (ends_at - starts_at).days > MAX_OVERRIDE_DAYS:
            raise InvalidShift("an override can last at most a year")
        override_id = new_id()
        async with self._sessions.begin() as session:
            if await session.get(User, user_id) is None:
                raise InvalidShift("no such account")
            session.add(
                RotaOverride(
                    id=override_id,
                    user_id=user_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    on_call=on_call,
                )
            )
        return Override(override_id, user_id, starts_at, ends_at, on_call)

    async def remove_override(self, override_id: str) -> bool:
        """Delete one override; False if there was none."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(RotaOverride).where(RotaOverride.id == override_id)
            )
            return bool(getattr(result, "rowcount", 0))
