"""Settings administrators changed in the dashboard, stored as JSON by name.

Which names exist and what values are valid is decided in ``handoff/admin_settings.py``;
this store only keeps the latest value and who set it (the audit log keeps the history).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.engine import SessionFactory
from storage.models import AdminSetting, utcnow


class AdminSettingsStore:
    """The dashboard's overrides of the configuration."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def all(self) -> dict[str, Any]:
        """Every override, by name."""
        async with self._sessions() as session:
            rows = await session.scalars(select(AdminSetting))
            return {row.name: json.loads(row.value) for row in rows}

    async def set_many(self, values: dict[str, Any], *, by_name: str) -> None:
        """Store several overrides in one transaction (all or none); None removes one."""
        now = self._clock()
        async with self._sessions.begin() as session:
            for name, value in values.items():
                row = await session.get(AdminSetting, name)
                if value is None:
                    if row is not None:
                        await session.delete(row)
                elif row is None:
                    session.add(
                        AdminSetting(
                            name=name,
                            value=json.dumps(value),
                            updated_by_name=by_name,
                            updated_at=now,
                        )
                    )
                else:
                    row.value, row.updated_by_name, row.updated_at = json.dumps(value), by_name, now
