"""Who is expected on call: a weekly rota in local time, with one-off overrides.

The rota says who *should* be on call; availability (the advocate's switch and heartbeat)
says who *is*. Offers go only to available advocates, those expected on call first, so the
rota decides the order but can never hand someone to an empty chair.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from storage.rota import MINUTES_PER_DAY, InvalidShift, Override, Shift


def parse_time(text: str) -> int:
    """'17:30' -> minutes after midnight; '24:00' is allowed as the end of the day."""
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise InvalidShift(f"times are HH:MM, got {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise InvalidShift(f"times are HH:MM between 00:00 and 24:00, got {text!r}")
    return value


def format_time(minute: int) -> str:
    """Minutes after midnight -> 'HH:MM'."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def shift_covers(shift: Shift, weekday: int, minute: int) -> bool:
    """Whether a shift covers a local weekday and minute of the day."""
    if shift.start < shift.end:
        return weekday == shift.weekday and shift.start <= minute < shift.end
    tomorrow = (shift.weekday + 1) % 7
    return (weekday == shift.weekday and minute >= shift.start) or (
        weekday == tomorrow and minute < shift.end
    )


def expected_on_call(
    shifts: Iterable[Shift], overrides: Iterable[Override], at: datetime, zone: str
) -> set[str]:
    """Who the rota expects on call at ``at``: shifts in local time, then overrides on top."""
    local = at.astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    expected = {s.user_id for s in shifts if shift_covers(s, local.weekday(), minute)}
    for override in sorted(overrides, key=lambda o: o.starts_at):
        if override.starts_at <= at < override.ends_at:
            if override.on_call:
                expected.add(override.user_id)
            else:
                expected.discard(override.user_id)
    return expected
