"""Row ids: 128 random bits, of which the first 64 are shared by ids made at the same moment.

An id is 32 hex digits: a random prefix of 64 bits, drawn afresh every ``IDS_PER_PREFIX``
ids or ``PREFIX_SECONDS``, whichever comes first, then 64 random bits of its own.

Why share a prefix: a batch of people's turns inserts dozens of rows at once, and with
wholly random ids each row lands on its own page of each table's primary-key index (and of
the indexes on ``conversation_id``), so every row cost a page write of its own at commit.
Ids made together now sit together in those indexes, and a batch writes a few pages of each:
on SQLite half the bytes written per message, and a tenth more messages a second
(docs/benchmarks.md).

What an id still does not tell: the prefix is random, neither a clock nor a counter, so an
id says nothing about when it was made, how many rows exist or in what order they came. Two
ids that share a prefix were made within ``PREFIX_SECONDS`` of each other, which the rows'
own times say anyway (docs/threat-model.md). No id is a secret: tokens and codes come from
``secrets`` directly, whole.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

IDS_PER_PREFIX = 256
PREFIX_SECONDS = 1.0


class IdMaker:
    """Makes ids as the module docstring says; ``clock`` is for tests.

    Not locked: ids are made on the event loop. Two threads at once could at worst share
    a prefix for a few ids more than ``IDS_PER_PREFIX``; each id keeps its own 64 bits.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._prefix = ""
        self._left = 0
        self._until = 0.0

    def new(self) -> str:
        """One id."""
        return self._prefix_for(1) + secrets.token_hex(8)

    def many(self, count: int) -> list[str]:
        """``count`` ids, from one read of the system's random source."""
        if count <= 0:
            return []
        prefix = self._prefix_for(count)
        random = secrets.token_bytes(8 * count)
        return [prefix + random[i : i + 8].hex() for i in range(0, len(random), 8)]

    def _prefix_for(self, count: int) -> str:
        """The prefix for the next ``count`` ids (a fresh one if this one is used up)."""
        now = self._clock()
        if self._left < count or now >= self._until:
            self._prefix = secrets.token_hex(8)
            self._left = max(IDS_PER_PREFIX, count)
            self._until = now + PREFIX_SECONDS
        self._left -= count
        return self._prefix


_MAKER = IdMaker()
new_id = _MAKER.new
new_ids = _MAKER.many

__all__ = ["IDS_PER_PREFIX", "PREFIX_SECONDS", "IdMaker", "new_id", "new_ids"]
