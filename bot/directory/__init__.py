"""The resource directory: places that can help, matched to what the person asked for.

Matching is a pure function so the service, the simulator and the tests agree exactly.
Entries that serve everywhere (area ``*``) fill in when nothing local matches, so the
person is never told "nothing" while a 24/7 line exists.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import yaml

CATEGORIES = ("hotline", "shelter", "legal", "counselling")
EVERYWHERE = "*"
_WORD = re.compile(r"\w+")


class DirectoryError(ValueError):
    """A directory entry is incomplete or wrong; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Resource:
    """One place that can help."""

    name: str
    category: str
    areas: tuple[str, ...]
    languages: tuple[str, ...]
    phone: str
    hours: str

    def line(self) -> str:
        """How the entry reads in a message."""
        return f"{self.name}: {self.phone} ({self.hours})"


def _words(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " " + " ".join(_WORD.findall(folded)) + " "


def serves(resource: Resource, area: str) -> bool:
    """Whether the person's area text names one of the areas the resource serves."""
    said = _words(area)
    return any(_words(a) in said for a in resource.areas if a != EVERYWHERE and _words(a).strip())


def match_resources(
    directory: Iterable[Resource],
    *,
    area: str,
    categories: Sequence[str],
    language: str,
    limit: int = 3,
) -> list[Resource]:
    """Local entries first (in the person's language first), then ones serving everywhere."""
    wanted = [r for r in directory if r.category in categories]
    local = [r for r in wanted if serves(r, area)]
    general = [r for r in wanted if EVERYWHERE in r.areas and r not in local]

    def order(r: Resource) -> tuple[int, int]:
        return (language not in r.languages, categories.index(r.category))

    return (sorted(local, key=order) + sorted(general, key=order))[:limit]


def parse_entry(raw: object, where: str) -> Resource:
    """Check one entry from a file or form."""
    if not isinstance(raw, dict):
        raise DirectoryError(f"{where}: an entry is a mapping")
    missing = [k for k in ("name", "category", "areas", "phone", "hours") if not raw.get(k)]
    if missing:
        raise DirectoryError(f"{where}: missing {', '.join(missing)}")
    if raw["category"] not in CATEGORIES:
        raise DirectoryError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
    areas = raw["areas"] if isinstance(raw["areas"], list) else [raw["areas"]]
    languages = raw.get("languages") or []
    return Resource(
        name=str(raw["name"]),
        category=str(raw["category"]),
        areas=tuple(str(a) for a in areas),
        languages=tuple(str(lang) for lang in languages),
        phone=str(raw["phone"]),
        hours=str(raw["hours"]),
    )


def load_demo_directory() -> list[Resource]:
    """The clearly fictional entries shipped for demos and first runs."""
    text = (resources.files("bot") / "directory" / "demo.yaml").read_text(encoding="utf-8")
    return [
        parse_entry(raw, f"demo.yaml entry {i}") for i, raw in enumerate(yaml.safe_load(text), 1)
    ]
