"""Statistics and the transparency report: counts over whole months, small ones suppressed.

Agencies are asked to share their data openly, and a hotline's numbers must never single
anyone out. So every count under :data:`SMALLEST_SHOWN` (zero included) is shown as "<10";
in each breakdown the hidden counts together are none or at least 10 (more are hidden
until they are), so subtracting from the total reveals no small number; periods are whole
calendar months, so two periods cannot differ by one quiet day; medians and percentiles
need at least 10 values. Every breakdown lists all its known keys, so a missing key cannot
stand for zero. No content and no identifiers are read or shown: the counts come from
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
from storage.statistics import (
    CONVERSATION_CHANNEL,
    CONVERSATION_HOUR,
    CONVERSATION_LANGUAGE,
    CONVERSATION_OUTCOME,
    HANDOFF_REQUEST,
    REPORT_CATEGORY,
    REPORT_CHANNEL,
    RawCounts,
)

SMALLEST_SHOWN = 10
SUPPRESSED = "<10"
MAX_MONTHS = 120
CONVERSATION_OUTCOMES = ("completed", "expired", "quick_exit", "left", "with_advocate")
HANDOFF_STATUSES = (
    "waiting",
    "claimed",
    "closed",
    "left_waiting",
    "left_in_chat",
    "unanswered",
)
REPORT_CATEGORIES = ("new", "addition")

Cell = int | None  # None: suppressed


class InvalidPeriod(ValueError):
    """The months asked for are not a period the statistics can cover."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole calendar months, first and last included, in the service's time zone.

    Only whole months: were any days allowed, two overlapping periods (1-31 January and
    1-30 January) would differ by exactly one day, and a quiet day can be one person.
    """

    first: date  # the first day of the first month
    last: date  # the last day of the last month
    timezone: str
    complete: bool  # False while the last month is still going on

    @property
    def since(self) -> datetime:
        """The first moment, in UTC."""
        return _midnight(self.first, self.timezone)

    @property
    def until(self) -> datetime:
        """Just after the last moment, in UTC."""
        return _midnight(self.last + timedelta(days=1), self.timezone)


def parse_period(query: Mapping[str, str], timezone: str, today: date) -> Period:
    """``from`` and ``to`` as YYYY-MM (both optional: this month)."""
    this_month = today.replace(day=1)
    try:
        last_month = _month(query["to"]) if query.get("to") else this_month
        first_month = _month(query["from"]) if query.get("from") else last_month
    except ValueError:
        raise InvalidPeriod("'from' and 'to' are months written YYYY-MM") from None
    if first_month > last_month:
        raise InvalidPeriod("'from' must not be after 'to'")
    if last_month > this_month:
        raise InvalidPeriod("'to' must not be in the future")
    months = (last_month.year - first_month.year) * 12 + last_month.month - first_month.month
    if months >= MAX_MONTHS:
        raise InvalidPeriod(f"a period is at most {MAX_MONTHS} months")
    last_day = _next_month(last_month) - timedelta(days=1)
    return Period(first_month, last_day, timezone, complete=last_day < today)


def suppress(counts: Mapping[str, int], keys: Iterable[str]) -> dict[str, Cell]:
    """One breakdown with small counts hidden, and none recoverable by subtraction.

    The breakdown's total is published beside it, so the hidden counts' sum is known: it
    must be nothing at all or at least :data:`SMALLEST_SHOWN`, else the next smallest
    shown count is hidden too, until it is.
    """
    raw: dict[str, int] = {key: counts.get(key, 0) for key in keys}
    for key, value in counts.items():
        raw.setdefault(key, value)
    cells: dict[str, Cell] = {k: (v if v >= SMALLEST_SHOWN else None) for k, v in raw.items()}
    while True:
        hidden_sum = sum(raw[k] for k, v in cells.items() if v is None)
        shown = sorted((v, k) for k, v in cells.items() if v is not None)
        if hidden_sum == 0 or hidden_sum >= SMALLEST_SHOWN or not shown:
            return cells
        cells[shown[0][1]] = None


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
    channels = raw.metric(CONVERSATION_CHANNEL)
    conversations = sum(channels.values())
    handoffs = sum(raw.handoffs_by_channel.values())
    reports = sum(raw.metric(REPORT_CATEGORY).values())
    waits = sorted(raw.claim_waits)
    requests = raw.metric(HANDOFF_REQUEST)
    asked = sum(requests.values())
    # Answered by the after-hours message: at once (nobody on call), or after waiting.
    after_hours = requests.get("after_hours", 0) + raw.handoffs_by_status.get("unanswered", 0)
    return {
        "period": {
            "from": period.first.isoformat()[:7],
            "to": period.last.isoformat()[:7],
            "timezone": period.timezone,
            "complete": period.complete,
        },
        "suppressed_below": SMALLEST_SHOWN,
        "conversations": {
            "total": cell(conversations),
            "by_channel": suppress(channels, CHANNELS),
            "by_language": suppress(raw.metric(CONVERSATION_LANGUAGE), languages),
            "by_outcome": suppress(raw.metric(CONVERSATION_OUTCOME), CONVERSATION_OUTCOMES),
            "by_hour": suppress(
                raw.metric(CONVERSATION_HOUR),
                # "07:00", not "07": a JavaScript object would sort "10".."23" before "00".
                (f"{h:02d}:00" for h in range(24)),
            ),
        },
        "handoffs": {
            "requested": cell(asked),
            "after_hours_share": round(100 * after_hours / asked)
            if cell(after_hours) is not None and cell(asked) is not None
            else None,
            "total": cell(handoffs),
            "by_channel": suppress(raw.handoffs_by_channel, CHANNELS),
            "by_status": suppress(raw.handoffs_by_status, HANDOFF_STATUSES),
            "by_outcome": suppress(raw.handoffs_by_outcome, outcome_tags),
            "minutes_to_claim": {
                "median": _minutes(statistics.median(waits)) if cell(len(waits)) else None,
                "p90": _minutes(_percentile(waits, 0.9)) if cell(len(waits)) else None,
            },
        },
        "reports": {
            "total": cell(reports),
            "by_category": suppress(raw.metric(REPORT_CATEGORY), REPORT_CATEGORIES),
            "by_channel": suppress(raw.metric(REPORT_CHANNEL), CHANNELS),
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


def _month(text: str) -> date:
    year, month = text.split("-")
    if len(year) != 4 or len(month) != 2:
        raise ValueError(text)
    return date(int(year), int(month), 1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)
