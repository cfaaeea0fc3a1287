"""The resource directory's store: public information about places that can help.

Every write goes through :func:`resource_problems`, the one place that says what a valid
entry is, so an entry added from the dashboard, a CSV import or the demo seed obeys the same
rules as the matching in :mod:`bot.directory` expects (a category the script knows, areas
it can match, a phone number a person can dial).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from bot.directory import CATEGORIES, EVERYWHERE, Resource
from storage.engine import SessionFactory
from storage.models import Resource as ResourceRow
from storage.models import new_id

MAX_NAME = 200
MAX_PHONE = 40
MAX_HOURS = 100
MAX_AREA = 100
# The columns' sizes in storage/models.py, for the comma-joined lists.
MAX_AREAS_TOTAL = 1000
MAX_LANGUAGES_TOTAL = 100

_PHONE = re.compile(r"[0-9 +\-()]+")
# "en", "es", "fil", "pt-BR", "zh-Hant": a language code with an optional region or script.
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
# Areas and languages are stored comma-separated and exchanged ;-separated in CSV files.
_LIST_SEPARATORS = (",", ";")


def is_valid_phone(phone: str) -> bool:
    """Whether ``phone`` is something a person can dial: digits, spaces, ``+ - ( )``."""
    return bool(_PHONE.fullmatch(phone)) and any(c.isdigit() for c in phone)


class InvalidResource(ValueError):
    """A directory entry with a missing, too long or malformed field; says which field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownResource(LookupError):
    """No directory entry has that id (removed meanwhile, or never existed)."""


@dataclass(frozen=True, slots=True)
class StoredResource:
    """A directory entry with the id the dashboard uses to change or remove it."""

    id: str
    entry: Resource


def _one_line(field: str, value: str, limit: int, problems: list[InvalidResource]) -> None:
    if len(value) > limit:
        problems.append(InvalidResource(field, f"{field} is longer than {limit} characters"))
    if any(not c.isprintable() for c in value):
        problems.append(InvalidResource(field, f"{field} must be one line of printable text"))


def resource_problems(entry: Resource) -> list[InvalidResource]:
    """Everything wrong with ``entry`` (already normalised by :func:`normalise`), in field order."""
    problems: list[InvalidResource] = []
    if not entry.name:
        problems.append(InvalidResource("name", "name is required"))
    _one_line("name", entry.name, MAX_NAME, problems)
    if entry.category not in CATEGORIES:
        problems.append(
            InvalidResource(
                "category",
                f"category {entry.category!r} is not one of {', '.join(CATEGORIES)}",
            )
        )
    if not entry.areas:
        problems.append(
            InvalidResource("areas", f"areas is required ({EVERYWHERE!r} serves everywhere)")
        )
    for area in entry.areas:
        if any(sep in area for sep in _LIST_SEPARATORS):
            problems.append(InvalidResource("areas", f"area {area!r} contains ',' or ';'"))
        _one_line("areas", area, MAX_AREA, problems)
    if len(",".join(entry.areas)) > MAX_AREAS_TOTAL:
        problems.append(InvalidResource("areas", f"areas are longer than {MAX_AREAS_TOTAL} in all"))
    for language in entry.languages:
        if not _LANGUAGE.fullmatch(language):
            problems.append(
                InvalidResource(
                    "languages", f"language {language!r} is not a code such as 'en' or 'pt-BR'"
                )
            )
    if len(",".join(entry.languages)) > MAX_LANGUAGES_TOTAL:
        problems.append(
            InvalidResource("languages", f"languages are longer than {MAX_LANGUAGES_TOTAL} in all")
        )
    if not entry.phone:
        problems.append(InvalidResource("phone", "phone is required"))
    elif not is_valid_phone(entry.phone):
        problems.append(
            InvalidResource(
                "phone",
                f"phone {entry.phone!r} is not a number: "
                "use digits, spaces, '+', '-', '(' and ')' only",
            )
        )
    if len(entry.phone) > MAX_PHONE:
        problems.append(InvalidResource("phone", f"phone is longer than {MAX_PHONE} characters"))
    if not entry.hours:
        problems.append(InvalidResource("hours", "hours is required, e.g. '24/7' or 'Mon-Fri 9-5'"))
    _one_line("hours", entry.hours, MAX_HOURS, problems)
    return problems


def normalise(entry: Resource) -> Resource:
    """Spaces trimmed, empty or repeated list items dropped, ``EN`` read as ``en``."""
    return Resource(
        name=entry.name.strip(),
        category=entry.category.strip(),
        areas=tuple(dict.fromkeys(a.strip() for a in entry.areas if a.strip())),
        languages=tuple(dict.fromkeys(_language(lang) for lang in entry.languages if lang.strip())),
        phone=entry.phone.strip(),
        hours=entry.hours.strip(),
    )


def _language(code: str) -> str:
    primary, dash, rest = code.strip().partition("-")
    return primary.lower() + dash + rest


def check_resource(entry: Resource) -> Resource:
    """The normalised entry, or :class:`InvalidResource` for its first problem."""
    entry = normalise(entry)
    problems = resource_problems(entry)
    if problems:
        raise problems[0]
    return entry


def _entry(row: ResourceRow) -> Resource:
    return Resource(
        name=row.name,
        category=row.category,
        areas=tuple(a for a in row.areas.split(",") if a),
        languages=tuple(lang for lang in row.languages.split(",") if lang),
        phone=row.phone,
        hours=row.hours,
    )


def _fill(row: ResourceRow, entry: Resource) -> ResourceRow:
    row.name = entry.name
    row.category = entry.category
    row.areas = ",".join(entry.areas)
    row.languages = ",".join(entry.languages)
    row.phone = entry.phone
    row.hours = entry.hours
    return row


# Every column, so equal directories list (and export) in the same order whatever their ids.
_ORDER = (
    ResourceRow.name,
    ResourceRow.category,
    ResourceRow.phone,
    ResourceRow.areas,
    ResourceRow.languages,
    ResourceRow.hours,
    ResourceRow.id,
)


class ResourceStore:
    """Directory entries; the directory is small, so matching happens in Python."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def all(self) -> list[Resource]:
        """Every entry, for the resources flow to match against."""
        return [stored.entry for stored in await self.list_entries()]

    async def list_entries(self) -> list[StoredResource]:
        """Every entry with its id, by name."""
        async with self._sessions() as session:
            rows = await session.scalars(select(ResourceRow).order_by(*_ORDER))
            return [StoredResource(row.id, _entry(row)) for row in rows]

    async def get(self, resource_id: str) -> StoredResource:
        """One entry; :class:`UnknownResource` if there is none with that id."""
        async with self._sessions() as session:
            row = await session.get(ResourceRow, resource_id)
            if row is None:
                raise UnknownResource(resource_id)
            return StoredResource(row.id, _entry(row))

    async def add(self, entry: Resource) -> StoredResource:
        """Check and add one entry."""
        entry = check_resource(entry)
        row = _fill(ResourceRow(id=new_id()), entry)
        async with self._sessions.begin() as session:
            session.add(row)
        return StoredResource(row.id, entry)

    async def update(self, resource_id: str, entry: Resource) -> StoredResource:
        """Check and replace one entry's fields; :class:`UnknownResource` if it is gone."""
        entry = check_resource(entry)
        async with self._sessions.begin() as session:
            row = await session.get(ResourceRow, resource_id)
            if row is None:
                raise UnknownResource(resource_id)
            _fill(row, entry)
        return StoredResource(resource_id, entry)

    async def remove(self, resource_id: str) -> Resource:
        """Remove one entry and answer what it was; :class:`UnknownResource` if it is gone."""
        async with self._sessions.begin() as session:
            row = await session.get(ResourceRow, resource_id)
            if row is None:
                raise UnknownResource(resource_id)
            removed = _entry(row)
            await session.delete(row)
        return removed

    async def replace_all(self, entries: Sequence[Resource]) -> int:
        """Replace the whole directory (an import) in one transaction; returns how many.

        Every entry is checked before anything is written, and the delete and the inserts
        commit together: a bad entry, or a failure half-way, leaves the old directory whole.
        """
        checked = [check_resource(entry) for entry in entries]
        async with self._sessions.begin() as session:
            await session.execute(delete(ResourceRow))
            session.add_all(_fill(ResourceRow(id=new_id()), entry) for entry in checked)
        return len(checked)

    async def add_all(self, entries: Iterable[Resource]) -> int:
        """Check and add entries together (all or none); returns how many."""
        rows = [_fill(ResourceRow(id=new_id()), check_resource(entry)) for entry in entries]
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
