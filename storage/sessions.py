"""Dashboard sign-in sessions, kept on the server.

The browser holds a random token in an HttpOnly cookie; the database holds only the token's
SHA-256, so a copy of the database cannot be used to sign in. A session ends after
``IDLE_LIMIT`` without use or ``ABSOLUTE_LIMIT`` after sign-in, whichever comes first: an
advocate's laptop left open in a shared office must not stay signed in for days.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from storage.engine import SessionFactory
from storage.models import DashboardSession, utcnow

IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: whose it is, its CSRF token, and its key in the store."""

    user_id: str
    csrf_token: str
    digest: str


def token_digest(token: str) -> str:
    """What the store keeps instead of the cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Creates, finds (expiring as it goes) and ends dashboard sessions."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def create(self, user_id: str) -> tuple[str, SignedIn]:
        """A new session: returns the cookie's token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        signed_in = SignedIn(user_id, secrets.token_urlsafe(32), token_digest(token))
        now = self._clock()
        async with self._sessions.begin() as session:
            # Sweep sessions nobody came back to, so the table holds only live ones without
            # needing a worker of its own.
            await session.execute(
                delete(DashboardSession).where(
                    or_(
                        DashboardSession.last_seen_at < now - IDLE_LIMIT,
                        DashboardSession.created_at < now - ABSOLUTE_LIMIT,
                    )
                )
            )
            session.add(
                DashboardSession(
                    token_digest=signed_in.digest,
                    user_id=user_id,
                    csrf_token=signed_in.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return token, signed_in

    async def find(self, token: str) -> SignedIn | None:
        """The live session for a cookie token; an expired one is deleted and not returned.

        A session ended while this runs (signed out, or the account disabled by another
        admin at that moment) is not found, rather than an error.
        """
        digest = token_digest(token)
        now = self._clock()
        this_session = DashboardSession.token_digest == digest
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(
                        DashboardSession.user_id,
                        DashboardSession.csrf_token,
                        DashboardSession.created_at,
                        DashboardSession.last_seen_at,
                    )
                    .where(this_session)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            if now - row.last_seen_at > IDLE_LIMIT or now - row.created_at > ABSOLUTE_LIMIT:
                await session.execute(delete(DashboardSession).where(this_session))
                return None
            seen = await session.execute(
                update(DashboardSession).where(this_session).values(last_seen_at=now)
            )
            if not getattr(seen, "rowcount", 0):
                return None  # ended between the read and the update (SQLite locks nothing)
            return SignedIn(row.user_id, row.csrf_token, digest)

    async def end(self, digest: str) -> None:
        """Sign out."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(DashboardSession).where(DashboardSession.token_digest == digest)
            )

    async def end_all_for(self, user_id: str) -> None:
        """Sign someone out everywhere (disabled, or their password was reset)."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(DashboardSession).where(DashboardSession.user_id == user_id)
            )
