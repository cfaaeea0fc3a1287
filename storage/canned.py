"""Canned responses: ready answers advocates insert and adapt, managed by administrators.

They are public wording (no one's details), so stored in clear like the resource directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from storage.engine import SessionFactory
from storage.models import CannedResponse, new_id, utcnow

MAX_TITLE = 80
MAX_BODY = 1000


class InvalidCannedResponse(ValueError):
    """A title, text or language that does not meet the rules."""


@dataclass(frozen=True, slots=True)
class Canned:
    """One canned response."""

    id: str
    language: str
    title: str
    body: str


class CannedResponseStore:
    """Lists, adds and removes canned responses."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def list(self, language: str | None = None) -> list[Canned]:
        """All responses (or one language's), by title."""
        query = select(CannedResponse).order_by(CannedResponse.language, CannedResponse.title)
        if language is not None:
            query = query.where(CannedResponse.language == language)
        async with self._sessions() as session:
            return [_canned(r) for r in await session.scalars(query)]

    async def add(self, *, language: str, title: str, body: str) -> Canned:
        """Add one after checking it; nothing is stored when a check fails."""
        language, title, body = language.strip().lower(), title.strip(), body.strip()
        if not (2 <= len(language) <= 8 and language.replace("-", "").isalpha()):
            raise InvalidCannedResponse("language must be a language code such as 'en'")
        if not title or len(title) > MAX_TITLE:
            raise InvalidCannedResponse(f"title must be 1-{MAX_TITLE} characters")
        if not body or len(body) > MAX_BODY:
            raise InvalidCannedResponse(f"text must be 1-{MAX_BODY} characters")
        row = CannedResponse(
            id=new_id(), language=language, title=title, body=body, created_at=self._clock()
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _canned(row)

    async def remove(self, canned_id: str) -> bool:
        """Delete one; False if it did not exist."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CannedResponse).where(CannedResponse.id == canned_id)
            )
            return bool(getattr(result, "rowcount", 0))

    async def seed_if_empty(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Install the shipped examples into a new database, once."""
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(CannedResponse))
        if count:
            return
        for language, title, body in entries:
            await self.add(language=language, title=title, body=body)


def _canned(row: CannedResponse) -> Canned:
    return Canned(row.id, row.language, row.title, row.body)
