"""The person's safe-contact window: when they said it is safe for someone to write.

The script stores the answer as ``HH:MM-HH:MM`` in the service's time zone, or ``any``. A
window may run past midnight (``22:00-06:00``). Anything unreadable counts as "no window
given", never as "any time is fine", except that the absence of an answer means the person
was not asked (a web chat, which only lives while the page is open).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SAFE_WINDOW_RESULT = "safe_window"
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class SafeWindow:
    """A daily window, local time."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        """Whether a local time of day falls inside the window."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # runs past midnight

    def describe(self) -> str:
        """'17:00-22:00', for messages to the advocate."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class OutsideSafeWindow(Exception):
    """The person said it is not safe to write to them now."""


def parse_window(value: str | None) -> SafeWindow | None:
    """The window in a stored answer; None for "any time" or no answer."""
    if value is None or value == "any":
        return None
    match = _WINDOW.fullmatch(value)
    if match is None:
        # An answer we cannot read must not open the gate: treat it as "never".
        return SafeWindow(time(0, 0), time(0, 0))
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return SafeWindow(time(h1, m1), time(h2, m2))


def check_safe_to_send(results: dict[str, str], now: datetime, zone: str) -> None:
    """Raise OutsideSafeWindow, with a reason an advocate can act on, if now is outside.

    Raises:
        OutsideSafeWindow: the window is set and ``now`` is outside it.
    """
    window = parse_window(results.get(SAFE_WINDOW_RESULT))
    if window is None:
        return
    local = now.astimezone(ZoneInfo(zone))
    if window.start == window.end:
        raise OutsideSafeWindow("The contact's safe time could not be read, so nothing is sent.")
    if not window.contains(local.time().replace(tzinfo=None)):
        raise OutsideSafeWindow(
            f"The contact said it is safe to write only between {window.describe()} "
            f"({zone}); it is {local:%H:%M} now. Your message was not sent."
        )


def next_safe_moment(results: dict[str, str], now: datetime, zone: str) -> datetime | None:
    """When a held message may go: None if now is fine, else the window's next opening.

    Returns None too for an unreadable window's "never": the caller must not send then
    either, so it gets ``now + 1 day`` to look again rather than a send.
    """
    window = parse_window(results.get(SAFE_WINDOW_RESULT))
    if window is None:
        return None
    local = now.astimezone(ZoneInfo(zone))
    if window.start != window.end and window.contains(local.time().replace(tzinfo=None)):
        return None
    if window.start == window.end:
        return now + timedelta(days=1)
    opening = local.replace(
        hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0
    )
    if opening <= local:
        opening += timedelta(days=1)
    return opening.astimezone(now.tzinfo)
