"""The script's versions and draft: what administrators edit, publish and roll back.

Versions are numbered per script from 1 and never rewritten: a rollback publishes an old
text again under the next number. Whether a text is safe to publish is decided above this
store (``handoff/scripts_api.py`` runs the same checks as ``porchlight script validate``);
the store only keeps the history straight, including when two administrators publish at
the same moment (the unique (script, number) pair makes the second one retry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage.engine import SessionFactory
from storage.models import ScriptDraft, ScriptVersion, new_id, utcnow

PUBLISHED, PENDING = "published", "pending"
MAX_NOTE = 500
PUBLISH_ATTEMPTS = 5


class VersionNotFound(LookupError):
    """No such version of the script."""


class NotPending(Exception):
    """The version was already published (only a pending version can be approved)."""


class SelfApproval(Exception):
    """The author of a version cannot be the second administrator who approves it."""


@dataclass(frozen=True, slots=True)
class Version:
    """One version as read back."""

    number: int
    source: str
    note: str
    status: str
    created_by: str | None
    created_by_name: str
    created_at: datetime
    approved_by_name: str | None
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class Draft:
    """The working copy."""

    source: str
    updated_by_name: str
    updated_at: datetime


class ScriptStore:
    """Versions and drafts of scripts, by script name."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def live(self, script: str) -> Version | None:
        """The newest published version: what new conversations start on."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(ScriptVersion)
                .where(ScriptVersion.script == script, ScriptVersion.status == PUBLISHED)
                .order_by(ScriptVersion.number.desc())
                .limit(1)
            )
            return _version(row) if row is not None else None

    async def version(self, script: str, number: int) -> Version:
        """One version, published or pending."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(ScriptVersion).where(
                    ScriptVersion.script == script, ScriptVersion.number == number
                )
            )
            if row is None:
                raise VersionNotFound(f"{script}@{number}")
            return _version(row)

    async def versions(self, script: str) -> list[Version]:
        """Every version, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ScriptVersion)
                .where(ScriptVersion.script == script)
                .order_by(ScriptVersion.number.desc())
            )
            return [_version(row) for row in rows]

    async def add_version(
        self,
        script: str,
        source: str,
        note: str,
        *,
        author_id: str | None,
        author_name: str,
        pending: bool = False,
    ) -> Version:
        """Record a new version under the next number; published at once unless pending."""
        now = self._clock()
        for _ in range(PUBLISH_ATTEMPTS):
            try:
                async with self._sessions.begin() as session:
                    highest = await session.scalar(
                        select(func.max(ScriptVersion.number)).where(ScriptVersion.script == script)
                    )
                    row = ScriptVersion(
                        id=new_id(),
                        script=script,
                        number=(highest or 0) + 1,
                        source=source,
                        note=note[:MAX_NOTE],
                        status=PENDING if pending else PUBLISHED,
                        created_by=author_id,
                        created_by_name=author_name,
                        created_at=now,
                        approved_by_name=None,
                        published_at=None if pending else now,
                    )
                    session.add(row)
                return _version(row)
            except IntegrityError:
                continue  # another administrator took that number a moment ago
        raise RuntimeError("could not number the new script version")  # pragma: no cover

    async def approve(self, script: str, number: int, *, by_id: str, by_name: str) -> Version:
        """A second administrator approves a pending version: it goes live.

        Raises:
            VersionNotFound, NotPending, SelfApproval.
        """
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(ScriptVersion)
                .where(ScriptVersion.script == script, ScriptVersion.number == number)
                .with_for_update()
            )
            if row is None:
                raise VersionNotFound(f"{script}@{number}")
            if row.status != PENDING:
                raise NotPending(f"{script}@{number}")
            if row.created_by == by_id:
                raise SelfApproval(f"{script}@{number}")
            row.status = PUBLISHED
            row.approved_by_name = by_name
            row.published_at = self._clock()
            return _version(row)

    async def ensure_first_version(self, script: str, source: str) -> bool:
        """Record the shipped script as version 1 on first start; True if it did."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ScriptVersion)
                .where(ScriptVersion.script == script)
            )
        if count:
            return False
        now = self._clock()
        try:  # number 1 exactly: if another instance starting at once took it, it is done
            async with self._sessions.begin() as session:
                session.add(
                    ScriptVersion(
                        id=new_id(),
                        script=script,
                        number=1,
                        source=source,
                        note="Shipped with Porchlight",
                        status=PUBLISHED,
                        created_by=None,
                        created_by_name="system",
                        created_at=now,
                        approved_by_name=None,
                        published_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def draft(self, script: str) -> Draft | None:
        """The working copy, if anyone saved one."""
        async with self._sessions() as session:
            row = await session.get(ScriptDraft, script)
            if row is None:
                return None
            return Draft(row.source, row.updated_by_name, row.updated_at)

    async def save_draft(self, script: str, source: str, *, by_name: str) -> Draft:
        """Replace the working copy (it may be invalid: it is never run)."""
        now = self._clock()
        async with self._sessions.begin() as session:
            row = await session.get(ScriptDraft, script)
            if row is None:
                session.add(
                    ScriptDraft(
                        script=script, source=source, updated_by_name=by_name, updated_at=now
                    )
                )
            else:
                row.source, row.updated_by_name, row.updated_at = source, by_name, now
        return Draft(source, by_name, now)


def _version(row: ScriptVersion) -> Version:
    return Version(
        number=row.number,
        source=row.source,
        note=row.note,
        status=row.status,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        created_at=row.created_at,
        approved_by_name=row.approved_by_name,
        published_at=row.published_at,
    )
