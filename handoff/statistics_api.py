"""Statistics under ``/api/v1/statistics`` (JSON, CSV) and the printable transparency report.

Administrators only. Everything shown goes through :func:`handoff.statistics.report`, so the
page, the downloads and the printed report suppress the same small counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.library import ScriptLibrary
from handoff import auth
from handoff.api import PREFIX
from handoff.dashboard import render
from handoff.jsonapi import json_error
from handoff.statistics import InvalidPeriod, Period, parse_period, report, to_csv
from storage.audit import Actor, AuditLog
from storage.statistics import StatisticsStore


def routes(
    store: Callable[[], StatisticsStore],
    library: Callable[[], ScriptLibrary],
    audit: Callable[[], AuditLog],
    timezone: str,
    clock: Callable[[], datetime],
    outcome_tags: Callable[[], Sequence[str]],
) -> list[web.RouteDef]:
    """The statistics routes."""

    async def gather(request: web.Request) -> tuple[Period, dict[str, Any]]:
        today = clock().astimezone(ZoneInfo(timezone)).date()
        period = parse_period(request.query, timezone, today)  # InvalidPeriod: a 400
        raw = await store().counts(period.first, period.last, period.since, period.until)
        return period, report(raw, period, library().current.languages, outcome_tags())

    async def as_json(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        try:
            _, data = await gather(request)
        except InvalidPeriod as exc:
            raise json_error(400, "invalid", str(exc)) from None
        return web.json_response(data)

    async def as_csv(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        try:
            period, data = await gather(request)
        except InvalidPeriod as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(
            Actor.of(admin),
            "statistics_exported",
            None,
            f"{period.first.isoformat()} to {period.last.isoformat()}",
        )
        name = f"porchlight-statistics-{period.first.isoformat()}-{period.last.isoformat()}.csv"
        return web.Response(
            text=to_csv(data),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def printable(request: web.Request) -> web.StreamResponse:
        try:
            await auth.require_role(request, "admin")
        except web.HTTPException as refused:
            if refused.status == 401:
                raise web.HTTPFound("/dashboard/login") from None
            raise
        try:
            _, data = await gather(request)
        except InvalidPeriod as exc:  # a person reads this page: plain words, not JSON
            raise web.HTTPBadRequest(text=f"Cannot make this report: {exc}.") from None
        return render("transparency_report.html", data=data)

    return [
        web.get(f"{PREFIX}/statistics", as_json),
        web.get(f"{PREFIX}/statistics.csv", as_csv),
        web.get("/dashboard/admin/statistics/report", printable),
    ]
