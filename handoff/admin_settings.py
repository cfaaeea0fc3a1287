"""The settings administrators may change in the dashboard, and the live values in use.

Only settings that are safe to change while running and that an administrator (not an
operator) owns are here: retention, the quick-exit page, extra alarm words for the script
lint, and the handoff timings. Each is validated as strictly as its configuration
counterpart; a change is all or nothing and the audit log records old and new values.
Everything else stays in the configuration file, where deployment controls it.

The texts people read after hours are not settings: they live in the script's
``after_hours`` node, so they are versioned and pass the safety lint like every other text
sent to a phone that someone else may read.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from config import Settings
from handoff.service import OUTCOMES
from storage.admin_settings import AdminSettingsStore

logger = logging.getLogger(__name__)

MAX_ALARM_WORDS = 200
MAX_OUTCOME_TAGS = 30
_TAG = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
# Letters, with spaces, hyphens and apostrophes inside: "safe house", "women's".
_WORD = re.compile(r"^[^\W\d_](?:[^\W\d_]|['\- ]){0,38}[^\W\d_]$")


class InvalidSettings(ValueError):
    """Some values were refused; ``fields`` says why, per setting."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Editable:
    """One setting the dashboard may change."""

    name: str
    label: str
    help: str
    parse: Callable[[Any], Any]  # raises ValueError with the reason


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value

    return parse


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500:
        raise ValueError("a web address of at most 500 characters")
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("an https:// address of an everyday site (weather, news, shopping)")
    return value.strip()


def _words(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise ValueError("a list of words")
    words = sorted({w.strip().casefold() for w in value if w.strip()})
    if len(words) > MAX_ALARM_WORDS:
        raise ValueError(f"at most {MAX_ALARM_WORDS} words")
    bad = [w for w in words if not _WORD.match(w)]
    if bad:
        raise ValueError(f"words are 2-40 letters (spaces, - and ' inside): not {bad[0]!r}")
    return words


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError("a list of tags")
    tags = list(dict.fromkeys(t.strip().casefold().replace(" ", "_") for t in value if t.strip()))
    if not 1 <= len(tags) <= MAX_OUTCOME_TAGS:
        raise ValueError(f"from 1 to {MAX_OUTCOME_TAGS} tags")
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        raise ValueError(f"tags are 2-32 letters, digits and _: not {bad[0]!r}")
    return tags


EDITABLE: Mapping[str, Editable] = {
    e.name: e
    for e in (
        Editable(
            "retention_days",
            "Keep conversations for (days)",
            "Conversations, notes and delivery records older than this are deleted for good "
            "at the next hourly purge.",
            _int_between(1, 3650),
        ),
        Editable(
            "report_retention_days",
            "Keep anonymous reports for (days)",
            "Empty: as configured (REPORT_RETENTION_DAYS; when that is not set, as long as "
            "conversations).",
            _int_between(1, 3650),
        ),
        Editable(
            "quick_exit_url",
            "Quick-exit page",
            "Where the web chat's Exit button (and Shift pressed three times) goes: an "
            "ordinary site.",
            _url,
        ),
        Editable(
            "alarm_words",
            "Extra alarm words",
            "Words a script may never show where someone else could read them first, added "
            "to the built-in list. Publishing a script that uses one is refused.",
            _words,
        ),
        Editable(
            "outcome_tags",
            "Outcome tags",
            "What advocates choose from when they close a conversation; counted in the "
            "statistics. Removing a tag keeps the conversations already tagged with it.",
            _tags,
        ),
        Editable(
            "handoff_offer_seconds",
            "Offer each advocate a conversation for (seconds)",
            "Then it is offered to the next available advocate.",
            _int_between(10, 600),
        ),
        Editable(
            "handoff_escalate_minutes",
            "Alert administrators after (minutes)",
            "When nobody has taken a waiting conversation by then.",
            _int_between(1, 120),
        ),
        Editable(
            "handoff_after_hours_minutes",
            "Give the after-hours answer after (minutes)",
            "When nobody has taken a waiting conversation by then, the person is told so "
            "and given the script's after-hours path.",
            _int_between(1, 240),
        ),
    )
}


def validate(
    changes: Mapping[str, Any], current: Mapping[str, Any], configured: Mapping[str, Any]
) -> dict[str, Any]:
    """The changes, parsed; ``None`` resets a setting to the configuration's value.

    Raises:
        InvalidSettings: naming each refused setting and why; nothing is applied then.
    """
    problems: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        editable = EDITABLE.get(name)
        if editable is None:
            problems[name] = "not a setting the dashboard can change"
            continue
        if value is None:
            parsed[name] = None
            continue
        try:
            parsed[name] = editable.parse(value)
        except ValueError as exc:
            problems[name] = f"must be {exc}"
    # What would be in use afterwards (a reset returns to the configured value).
    merged = {**current, **{k: configured.get(k) if v is None else v for k, v in parsed.items()}}
    escalate, give_up = (
        merged.get("handoff_escalate_minutes"),
        merged.get("handoff_after_hours_minutes"),
    )
    if not problems and escalate is not None and give_up is not None and escalate >= give_up:
        problems["handoff_escalate_minutes"] = (
            "must be less than the after-hours time, or nobody is ever alerted"
        )
    if problems:
        raise InvalidSettings(problems)
    return parsed


class LiveSettings:
    """The configuration with the dashboard's overrides applied; re-read on change.

    Services that read a setting at the moment of use (the handoff worker, the purge, the
    chat page) read :attr:`current`, so a change applies without a restart, and on every
    instance within a refresh.
    """

    def __init__(self, base: Settings, store: AdminSettingsStore | None = None) -> None:
        self._base = base
        self._store = store
        self._overrides: dict[str, Any] = {}
        self.current = base

    def attach(self, store: AdminSettingsStore) -> None:
        """Connect the store once the database is ready; :meth:`refresh` then reads it."""
        self._store = store

    @property
    def alarm_words(self) -> tuple[str, ...]:
        """The administrators' extra alarm words (the lint adds its built-in list)."""
        return tuple(self._overrides.get("alarm_words", ()))

    @property
    def outcome_tags(self) -> tuple[str, ...]:
        """The tags advocates close conversations with."""
        return tuple(self._overrides.get("outcome_tags", OUTCOMES))

    def effective(self) -> dict[str, Any]:
        """Each editable setting's value in use."""
        values = {name: getattr(self.current, name, None) for name in EDITABLE}
        values["alarm_words"] = list(self.alarm_words)
        values["outcome_tags"] = list(self.outcome_tags)
        return values

    def configured(self) -> dict[str, Any]:
        """Each editable setting's value from the configuration (what a reset returns to)."""
        values = {name: getattr(self._base, name, None) for name in EDITABLE}
        values["alarm_words"] = []
        values["outcome_tags"] = list(OUTCOMES)
        return values

    def overridden(self) -> frozenset[str]:
        """Names set in the dashboard."""
        return frozenset(self._overrides)

    async def refresh(self) -> None:
        """Re-read the overrides (a change here or on another instance)."""
        if self._store is None:
            return
        overrides = await self._store.all()
        known = {k: v for k, v in overrides.items() if k in EDITABLE}
        fields = {
            k: v for k, v in known.items() if k in {f.name for f in dataclasses.fields(Settings)}
        }
        try:
            self.current = dataclasses.replace(self._base, **fields)
        except TypeError as exc:  # pragma: no cover -- validated on the way in
            logger.error("dashboard settings ignored: %s", exc)
            return
        self._overrides = known

    async def change(self, changes: Mapping[str, Any], *, by_name: str) -> dict[str, Any]:
        """Validate and store changes (all or none); returns each changed setting's old value.

        Raises:
            InvalidSettings.
        """
        if self._store is None:
            raise InvalidSettings({"*": "settings cannot be changed here"})
        parsed = validate(changes, self.effective(), self.configured())
        before = self.effective()
        await self._store.set_many(parsed, by_name=by_name)
        await self.refresh()
        after = self.effective()
        return {name: before[name] for name in parsed if before[name] != after[name]}
