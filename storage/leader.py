"""Which instance runs the workers that must run once: timers, handoff rounds, purges.

Several instances may share one PostgreSQL. A timed-out question must be answered once, an
advocate offered a conversation once, and a purge run once, so those workers run only on the
instance holding a PostgreSQL advisory lock. The lock belongs to a database session: if that
instance dies or loses its connection, the lock is released and another instance takes over
within :data:`CHECK_SECONDS`. (The outbox worker runs everywhere: its rows are taken with
``FOR UPDATE SKIP LOCKED``, so instances share the sending.)

On SQLite there is one instance, and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

# An arbitrary 64-bit number naming the lock ("porchlit" in ASCII).
LOCK_KEY = 0x706F7263686C6974
CHECK_SECONDS = 5.0


class Leadership:
    """Whether this instance runs the once-only workers; see the module docstring."""

    def __init__(self, database_url: str, check_seconds: float = CHECK_SECONDS) -> None:
        self._shared = database_url.startswith("postgresql")
        self._dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._check_seconds = check_seconds
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.is_leader = not self._shared

    async def start(self) -> None:
        """Try for the lock now, and keep trying (or keep checking it is held)."""
        if not self._shared:
            return
        await self._check()
        self._task = asyncio.create_task(self._keep_checking())

    async def close(self) -> None:
        """Give the lock up (closing the session releases it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self.is_leader = not self._shared

    async def _keep_checking(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            await self._check()

    async def _check(self) -> None:
        was_leader = self.is_leader
        try:
            if self._connection is None or self._connection.is_closed():
                self.is_leader = False  # a new session holds no lock
                self._connection = await asyncpg.connect(self._dsn)
            if not self.is_leader:
                self.is_leader = bool(
                    await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
                )
            else:  # still connected means still holding it; make sure the session is alive
                await self._connection.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError) as exc:
            self.is_leader = False
            logger.error("leadership: database unreachable (%s)", type(exc).__name__)
            if self._connection is not None and not self._connection.is_closed():
                self._connection.terminate()
            self._connection = None
        if self.is_leader != was_leader:
            logger.info(
                "this instance %s the timers, handoff rounds and purges",
                "now runs" if self.is_leader else "no longer runs",
            )
