"""The rota under ``/api/v1/rota``: everyone may see who is expected on call; admins edit it.

Times of day are ``HH:MM`` in the service's ``TIMEZONE``; override instants are ISO 8601
with a zone. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from config import Settings
from handoff import auth
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from handoff.rota import expected_on_call, format_time, parse_time
from storage.audit import Actor, AuditLog
from storage.models import utcnow
from storage.presence import PresenceStore
from storage.rota import InvalidShift, RotaStore, Shift

MAX_SHIFTS = 50


def routes(
    rota: Callable[[], RotaStore],
    presence: Callable[[], PresenceStore],
    audit: Callable[[], AuditLog],
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> list[web.RouteDef]:
    """The rota routes; the stores are built at start-up, so they are looked up."""

    async def show(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        now = clock()
        shifts = await rota().shifts()
        overrides = await rota().overrides(after=now)
        people = {p.user_id: p for p in await presence().everyone()}
        expected = expected_on_call(shifts, overrides, now, settings.timezone)

        def name(user_id: str) -> str:
            return people[user_id].username if user_id in people else "(removed)"

        return web.json_response(
            {
                "timezone": settings.timezone,
                "shifts": [
                    {
                        "user_id": s.user_id,
                        "username": name(s.user_id),
                        "weekday": s.weekday,
                        "start": format_time(s.start),
                        "end": format_time(s.end),
                    }
                    for s in shifts
                ],
                "overrides": [
                    {
                        "id": o.id,
                        "user_id": o.user_id,
                        "username": name(o.user_id),
                        "starts_at": o.starts_at.isoformat(),
                        "ends_at": o.ends_at.isoformat(),
                        "on_call": o.on_call,
                    }
                    for o in overrides
                ],
                "expected_now": sorted(name(u) for u in expected),
                "available_now": sorted(p.username for p in people.values() if p.available),
            }
        )

    async def set_weekly(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        user_id = request.match_info["user_id"]
        body = await json_body(request)
        raw = body.get("shifts")
        if not isinstance(raw, list) or len(raw) > MAX_SHIFTS:
            raise json_error(400, "invalid", f"'shifts' must be a list of at most {MAX_SHIFTS}")
        try:
            shifts = [_shift(user_id, item) for item in raw]
            await rota().set_weekly(user_id, shifts)
        except InvalidShift as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(Actor.of(account), "rota_changed", user_id, f"{len(shifts)} shifts")
        return web.json_response({"shifts": len(shifts)})

    async def add_override(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        body = await json_body(request)
        user_id, on_call = body.get("user_id"), body.get("on_call")
        if not isinstance(user_id, str) or not isinstance(on_call, bool):
            raise json_error(400, "invalid", "'user_id' (string) and 'on_call' (boolean)")
        try:
            override = await rota().add_override(
                user_id, _instant(body, "starts_at"), _instant(body, "ends_at"), on_call
            )
        except InvalidShift as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(
            Actor.of(account),
            "rota_override_added",
            user_id,
            "on call" if on_call else "off",
        )
        return web.json_response({"id": override.id}, status=201)

    async def remove_override(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        override_id = request.match_info["id"]
        if not await rota().remove_override(override_id):
            raise json_error(404, "not_found", "No such override.")
        await audit().record(Actor.of(account), "rota_override_removed", override_id)
        return web.Response(status=204)

    return [
        web.get(f"{PREFIX}/rota", show),
        web.put(f"{PREFIX}/rota/{{user_id}}", set_weekly),
        web.post(f"{PREFIX}/rota/overrides", add_override),
        web.delete(f"{PREFIX}/rota/overrides/{{id}}", remove_override),
    ]


def _shift(user_id: str, item: Any) -> Shift:
    if not isinstance(item, dict):
        raise InvalidShift('each shift is {"weekday": 0-6, "start": "HH:MM", "end": "HH:MM"}')
    weekday, start, end = item.get("weekday"), item.get("start"), item.get("end")
    if not isinstance(weekday, int) or isinstance(weekday, bool):
        raise InvalidShift("weekday must be 0 (Monday) to 6 (Sunday)")
    if not isinstance(start, str) or not isinstance(end, str):
        raise InvalidShift("start and end are HH:MM")
    return Shift(user_id, weekday, parse_time(start), parse_time(end))


def _instant(body: dict[str, Any], name: str) -> datetime:
    raw = body.get(name)
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidShift(f"'{name}' must be an ISO 8601 time with a zone, e.g. 2026-12-24T18:00Z")
    return value
