"""Who is on call right now: each advocate's own switch plus a heartbeat from the dashboard.

Being "available" takes both. The switch says the advocate means to take conversations; the
heartbeat (sent by an open dashboard every half minute) says they are still there. A laptop
closed without signing out stops the heartbeat, and after ``STALE_AFTER`` that advocate is
no longer offered anything, so nobody is ever handed to an empty chair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from storage.engine import SessionFactory
from storage.models import User, utcnow

STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Presence:
    """One account's on-call state."""

    user_id: str
    username: str
    role: str
    available: bool
    last_seen_at: datetime | None


class PresenceStore:
    """Reads and writes the on-call switch and heartbeat; see the module docstring."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def set_available(self, user_id: str, available: bool) -> None:
        """The advocate's own switch; turning it on also counts as a heartbeat."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(available=available, last_seen_at=self._clock())
            )

    async def heartbeat(self, user_id: str) -> None:
        """The dashboard is still open."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(last_seen_at=self._clock())
            )

    async def everyone(self) -> list[Presence]:
        """Every enabled account with whether it is available now (heartbeat included)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(User).where(User.disabled.is_(False)).order_by(User.username)
            )
            return [self._presence(row) for row in rows]

    async def available(self, role: str | None = None) -> list[Presence]:
        """Accounts that are available now (optionally of one role)."""
        return [
            p for p in await self.everyone() if p.available and (role is None or p.role == role)
        ]

    async def is_available(self, user_id: str) -> bool:
        """Whether this one account is available now."""
        return any(p.user_id == user_id for p in await self.available())

    async def expire_stale(self) -> list[str]:
        """Switch off advocates whose heartbeat stopped; return their ids for the dashboards."""
        cutoff = self._clock() - STALE_AFTER
        async with self._sessions.begin() as session:
            ids = list(
                await session.scalars(
                    select(User.id).where(User.available.is_(True), User.last_seen_at < cutoff)
                )
            )
            if ids:
                await session.execute(update(User).where(User.id.in_(ids)).values(available=False))
            return ids

    def _presence(self, row: User) -> Presence:
        fresh = row.last_seen_at is not None and row.last_seen_at >= self._clock() - STALE_AFTER
        return Presence(row.id, row.username, row.role, row.available and fresh, row.last_seen_at)
