"""The audit log: who logged in, who read which conversation, who changed what.

Append-only in the application: this store has no method that updates or deletes an entry.
Entries name records by id (a handoff, a report, a user), never by content or address, so
the log itself needs no encryption and can be shown to every administrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from storage.engine import SessionFactory
from storage.models import AuditEntry, new_id, utcnow

MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry as read back."""

    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None


class Named(Protocol):
    """An account as far as the audit log cares: its id and its username."""

    @property
    def id(self) -> str:
        """The account's id."""

    @property
    def username(self) -> str:
        """The account's username."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: an account, or the service itself (``id`` None, e.g. "system")."""

    id: str | None
    name: str

    @classmethod
    def of(cls, account: Named) -> Actor:
        """The account that acted (its username as it is now, kept if it is renamed)."""
        return cls(account.id, account.username)


SYSTEM = Actor(None, "system")


class AuditLog:
    """Writes and reads audit entries; see the module docstring."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def record(
        self, actor: Actor, action: str, target: str | None = None, detail: str | None = None
    ) -> None:
        """Append one entry. ``detail`` is a short, content-free explanation."""
        entry = AuditEntry(
            id=new_id(),
            at=self._clock(),
            actor_id=actor.id,
            actor=actor.name,
            action=action,
            target=target,
            detail=detail[:MAX_DETAIL] if detail else None,
        )
        async with self._sessions.begin() as session:
            session.add(entry)

    async def entries(
        self,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        target: str | None = None,
        limit: int = 200,
    ) -> list[AuditRecord]:
        """Newest first, optionally filtered by action, actor or target."""
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [AuditRecord(r.at, r.actor, r.action, r.target, r.detail) for r in rows]
