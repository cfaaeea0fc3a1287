"""Settings administrators change in the dashboard: ``GET``/``PUT /api/v1/settings``.

What may change and how it is checked lives in :mod:`handoff.admin_settings`; each change
is audit-logged with its old and new value (none of these settings is a secret).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.admin_settings import EDITABLE, InvalidSettings, LiveSettings
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from storage.audit import Actor, AuditLog

MAX_DETAIL = 200


def routes(live: LiveSettings, audit: Callable[[], AuditLog]) -> list[web.RouteDef]:
    """The settings routes."""

    async def read(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        return web.json_response(_settings_json(live))

    async def change(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        body = await json_body(request)
        try:
            changed = await live.change(body, by_name=admin.username)
        except InvalidSettings as exc:
            raise json_error(
                400, "invalid", "Nothing was changed: fix the settings named.", fields=exc.fields
            ) from None
        now = live.effective()
        for name, old in changed.items():
            detail = f"{_shown(old)} -> {_shown(now[name])}"[:MAX_DETAIL]
            await audit().record(Actor.of(admin), "setting_changed", name, detail)
        return web.json_response(_settings_json(live))

    return [web.get(f"{PREFIX}/settings", read), web.put(f"{PREFIX}/settings", change)]


def _settings_json(live: LiveSettings) -> dict[str, Any]:
    values, configured, overridden = live.effective(), live.configured(), live.overridden()
    return {
        name: {
            "label": editable.label,
            "help": editable.help,
            "value": values[name],
            "configured": configured[name],
            "changed_here": name in overridden,
        }
        for name, editable in EDITABLE.items()
    }


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(value) or "(none)"
    return "(not set)" if value is None else str(value)
