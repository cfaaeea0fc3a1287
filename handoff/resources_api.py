"""Administration of the resource directory under ``/api/v1/resources`` (being built)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from storage.audit import AuditLog
from storage.resources import ResourceStore


def routes(
    resources: Callable[[], ResourceStore], audit: Callable[[], AuditLog]
) -> list[web.RouteDef]:
    """The directory routes; the stores are built at start-up, so they are looked up."""
    return []
