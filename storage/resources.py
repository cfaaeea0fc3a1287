"""The resource directory's store: public information about places that can help."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from bot.directory import Resource
from storage.engine import SessionFactory
from storage.models import Resource as ResourceRow
from storage.models import new_id


class ResourceStore:
    """Directory entries; the directory is small, so matching happens in Python."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def all(self) -> list[Resource]:
        """Every entry."""
        async with self._sessions() as session:
            rows = await session.scalars(select(ResourceRow).order_by(ResourceRow.name))
            return [
                Resource(
                    name=row.name,
                    category=row.category,
                    areas=tuple(a for a in row.areas.split(",") if a),
                    languages=tuple(lang for lang in row.languages.split(",") if lang),
                    phone=row.phone,
                    hours=row.hours,
                )
                for row in rows
            ]

    async def add_all(self, entries: Iterable[Resource]) -> int:
        """Add entries; returns how many."""
        rows = [
            ResourceRow(
                id=new_id(),
                name=entry.name,
                category=entry.category,
                areas=",".join(entry.areas),
                languages=",".join(entry.languages),
                phone=entry.phone,
                hours=entry.hours,
            )
            for entry in entries
        ]
        async with self._sessions.begin() as session:
            session.add_all(rows)
        return len(rows)

    async def seed_if_empty(self, entries: Iterable[Resource]) -> bool:
        """Fill an empty directory (first run); never touches one an admin has filled."""
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(ResourceRow))
        if count:
            return False
        await self.add_all(entries)
        return True
