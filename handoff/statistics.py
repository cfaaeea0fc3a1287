"""Statistics and the transparency report: counts over a period, small ones suppressed.

Agencies are asked to share their data openly, and a hotline's numbers must never single
anyone out. So every count under :data:`SMALLEST_SHOWN` (zero included) is shown as "<10",
and where a breakdown would let a hidden count be worked out from the total and the
others, the next smallest count is hidden too. Medians and percentiles need at least as
many values. Every breakdown lists all its known keys, so a missing key cannot stand for
zero. No content and no identifiers are read or shown: the counts come from
:mod:`storage.statistics`.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.script import CHANNELS
from handoff.service import OUTCOMES
from storage.statistics import RawCounts

SMALLEST_SHOWN = 10
SUPPRESSED = "<10"
DEFAULT_DAYS = 30
MAX_DAYS = 3660
CONVERSATION_OUTCOMES = ("completed", "expired", "quick_exit", "left", "with_advocate")
HANDOFF_STATUSES = ("waiting", "claimed", "closed", "left", "unanswered")
REPORT_CATEGORIES = ("new", "addition")

Cell = int | None  # None: suppressed


class InvalidPeriod(ValueError):
    """The dates asked for are not a period the statistics can cover."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days, first and last included, in the service's time zone."""

    first: date
    last: date
    timezone: str

    @property
    def since(self) -> datetime:
        """The first moment, in UTC."""
        return _midnight(self.first, self.timezone)

    @property
    def until(self) -> datetime:
        """Just after the last moment, in UTC."""
        return _midnight(self.last + timedelta(days=1), self.timezone)


def parse_period(query: Mapping[str, str], timezone: str, today: date) -> Period:
    """``from`` and ``to`` as YYYY-MM-DD (both optional: the last 30 days up to today)."""
    try:
        last = date.fromisoformat(query["to"]) if query.get("to") else today
        first = (
            date.fromisoformat(query["from"])
            if query.get("from")
            else last - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        raise InvalidPeriod("'from' and 'to' are dates written YYYY-MM-DD") from None
    if first > last:
        raise InvalidPeriod("'from' must not be after 'to'")
    if (last - first).days >= MAX_DAYS:
        raise InvalidPeriod(f"a period is at most {MAX_DAYS} days")
    return Period(first, last, timezone)


def suppress(counts: Mapping[str, int], keys: Iterable[str]) -> dict[str, Cell]:
    """One breakdown with small counts hidden, and no hidden count recoverable by subtraction.

    The breakdown's total is published next to it, so if exactly one count were hidden it
    would be the total minus the rest: then the next smallest is hidden as well.
    """
    cells: dict[str, Cell] = {key: counts.get(key, 0) for key in keys}
    for key, value in counts.items():
        cells.setdefault(key, value)
    hidden = [k for k, v in cells.items() if v is not None and v < SMALLEST_SHOWN]
    for key in hidden:
        cells[key] = None
    shown = sorted((v, k) for k, v in cells.items() if v is not None)
    if len(hidden) == 1 and shown:
        cells[shown[0][1]] = None
    return cells


def cell(value: int) -> Cell:
    """A single count, hidden when small."""
    return value if value >= SMALLEST_SHOWN else None


def report(
    raw: RawCounts,
    period: Period,
    languages: Iterable[str],
    outcome_tags: Iterable[str] = OUTCOMES,
) -> dict[str, Any]:
    """The statistics of a period, suppressed, as the API, CSV and printed report show them."""
    zone = ZoneInfo(period.timezone)
    by_hour: dict[str, int] = {}
    for hour, n in raw.conversations_by_hour.items():
        local = f"{hour.astimezone(zone).hour:02d}:00"
        by_hour[local] = by_hour.get(local, 0) + n
    conversations = sum(raw.conversations_by_channel.values())
    handoffs = sum(raw.handoffs_by_channel.values())
    reports = sum(raw.reports_by_category.values())
    waits = sorted(raw.claim_waits)
    unanswered = raw.handoffs_by_status.get("unanswered", 0)
    return {
        "period": {
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "timezone": period.timezone,
        },
        "suppressed_below": SMALLEST_SHOWN,
        "conversations": {
            "total": cell(conversations),
            "by_channel": suppress(raw.conversations_by_channel, CHANNELS),
            "by_language": suppress(raw.conversations_by_language, languages),
            "by_outcome": suppress(raw.conversations_by_outcome, CONVERSATION_OUTCOMES),
            # "07:00", not "07": a JavaScript object would sort "10".."23" before "00".
            "by_hour": suppress(by_hour, (f"{h:02d}:00" for h in range(24))),
        },
        "handoffs": {
            "total": cell(handoffs),
            "by_channel": suppress(raw.handoffs_by_channel, CHANNELS),
            "by_status": suppress(raw.handoffs_by_status, HANDOFF_STATUSES),
            "by_outcome": suppress(raw.handoffs_by_outcome, outcome_tags),
            "claimed": cell(len(waits)),
            "abandoned_waiting": cell(raw.abandoned_waiting),
            "after_hours_share": round(100 * unanswered / handoffs)
            if cell(unanswered) is not None and cell(handoffs) is not None
            else None,
            "minutes_to_claim": {
                "median": _minutes(statistics.median(waits)) if cell(len(waits)) else None,
                "p90": _minutes(_percentile(waits, 0.9)) if cell(len(waits)) else None,
            },
        },
        "reports": {
            "total": cell(reports),
            "by_category": suppress(raw.reports_by_category, REPORT_CATEGORIES),
            "by_channel": suppress(raw.reports_by_channel, CHANNELS),
        },
    }


def to_csv(data: Mapping[str, Any]) -> str:
    """``section,item,value`` rows; hidden counts read "<10"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "item", "value"])
    period = data["period"]
    writer.writerow(["period", "from", period["from"]])
    writer.writerow(["period", "to", period["to"]])
    writer.writerow(["period", "timezone", period["timezone"]])
    for section in ("conversations", "handoffs", "reports"):
        for item, value in data[section].items():
            if isinstance(value, dict):
                for key, inner in value.items():
                    writer.writerow([section, f"{item}.{key}", _shown(inner)])
            else:
                writer.writerow([section, item, _shown(value)])
    return out.getvalue()


def _shown(value: Cell | float) -> str:
    return SUPPRESSED if value is None else str(value)


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = math.ceil(round(fraction * len(values), 9))  # round: 0.9 * 10 is 9.000…02
    return values[max(1, rank) - 1]


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)
