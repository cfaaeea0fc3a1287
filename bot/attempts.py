"""Limits on guessing report receipt codes: per person and across the whole service.

A receipt code opens someone's report to additions, so wrong codes are counted: after
``PER_SOURCE`` wrong codes within ``WINDOW`` from one person (one pseudonym), or ``GLOBAL``
from everyone, further codes are not even looked up until the window has moved on. The
answer stays exactly the "not found" one, and the slow hash is still computed, so a guesser
cannot tell a limit from a wrong code by the words or the time taken.

Counts live in this process's memory: a restart forgets them (a guesser gains one window),
and each instance of a multi-instance deployment counts on its own.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)
PER_SOURCE = 5
GLOBAL = 100


class AttemptLimiter:
    """Sliding-window counts of failures, per source and overall."""

    def __init__(
        self, per_source: int = PER_SOURCE, overall: int = GLOBAL, window: timedelta = WINDOW
    ) -> None:
        self._per_source = per_source
        self._overall = overall
        self._window = window
        self._by_source: dict[str, deque[datetime]] = {}
        self._all: deque[datetime] = deque()

    def allowed(self, source: str, now: datetime) -> bool:
        """Whether this source may try a code now."""
        self._forget_before(now - self._window)
        mine = self._by_source.get(source, ())
        return len(mine) < self._per_source and len(self._all) < self._overall

    def failed(self, source: str, now: datetime) -> None:
        """Count one wrong code."""
        self._by_source.setdefault(source, deque()).append(now)
        self._all.append(now)

    def _forget_before(self, cutoff: datetime) -> None:
        while self._all and self._all[0] <= cutoff:
            self._all.popleft()
        for source in list(self._by_source):
            times = self._by_source[source]
            while times and times[0] <= cutoff:
                times.popleft()
            if not times:
                del self._by_source[source]
