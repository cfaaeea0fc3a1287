"""The resource directory under ``/api/v1/resources``: all may read it, admins change it.

Everyone signed in may read the directory: it is public information an advocate passes on.

Entries are changed one at a time as JSON, or the whole directory is replaced from a CSV
file (see :mod:`handoff.resources_csv` for the format). Every change is audited with the
entry's name or the number imported: directory entries are public, never personal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.directory import Resource
from handoff import auth
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from handoff.resources_csv import CONTENT_TYPE, MAX_BYTES, CsvRejected, export_csv, parse_csv
from storage.audit import Actor, AuditLog
from storage.resources import InvalidResource, ResourceStore, StoredResource, UnknownResource

_NOT_FOUND = "No such directory entry."


def routes(
    resources: Callable[[], ResourceStore], audit: Callable[[], AuditLog]
) -> list[web.RouteDef]:
    """The directory routes; the stores are built at start-up, so they are looked up."""

    async def list_entries(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        return web.json_response([_entry_json(s) for s in await resources().list_entries()])

    async def add_entry(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        try:
            stored = await resources().add(_entry(await json_body(request)))
        except InvalidResource as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(Actor.of(account), "resource_added", stored.id, stored.entry.name)
        return web.json_response(_entry_json(stored), status=201)

    async def change_entry(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        resource_id = request.match_info["id"]
        try:
            stored = await resources().update(resource_id, _entry(await json_body(request)))
        except InvalidResource as exc:
            raise json_error(400, "invalid", str(exc)) from None
        except UnknownResource:
            raise json_error(404, "not_found", _NOT_FOUND) from None
        await audit().record(Actor.of(account), "resource_changed", stored.id, stored.entry.name)
        return web.json_response(_entry_json(stored))

    async def remove_entry(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        resource_id = request.match_info["id"]
        try:
            removed = await resources().remove(resource_id)
        except UnknownResource:
            raise json_error(404, "not_found", _NOT_FOUND) from None
        await audit().record(Actor.of(account), "resource_removed", resource_id, removed.name)
        return web.Response(status=204)

    async def export(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        text = export_csv(await resources().all())
        return web.Response(
            text=text,
            content_type=CONTENT_TYPE,
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="resources.csv"'},
        )

    async def import_(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        if request.content_type != CONTENT_TYPE:
            raise json_error(415, "unsupported", f"send the file as {CONTENT_TYPE}")
        too_large = json_error(413, "too_large", f"the file is larger than {MAX_BYTES} bytes")
        if request.content_length is not None and request.content_length > MAX_BYTES:
            raise too_large
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        try:
            entries = parse_csv(data)
        except CsvRejected as exc:
            raise json_error(400, "invalid_csv", str(exc)) from None
        replaced = len(await resources().list_entries())
        count = await resources().replace_all(entries)
        await audit().record(
            Actor.of(account),
            "resources_imported",
            None,
            f"{count} entries, replacing {replaced}",
        )
        return web.json_response({"imported": count})

    return [
        web.get(f"{PREFIX}/resources", list_entries),
        web.post(f"{PREFIX}/resources", add_entry),
        web.put(f"{PREFIX}/resources/{{id}}", change_entry),
        web.delete(f"{PREFIX}/resources/{{id}}", remove_entry),
        web.get(f"{PREFIX}/resources.csv", export),
        web.put(f"{PREFIX}/resources.csv", import_),
    ]


def _entry_json(stored: StoredResource) -> dict[str, Any]:
    entry = stored.entry
    return {
        "id": stored.id,
        "name": entry.name,
        "category": entry.category,
        "areas": list(entry.areas),
        "languages": list(entry.languages),
        "phone": entry.phone,
        "hours": entry.hours,
    }


def _entry(body: dict[str, Any]) -> Resource:
    """The body as an entry; the store checks what the values say, this only their types."""
    texts: dict[str, str] = {}
    for field in ("name", "category", "phone", "hours"):
        value = body.get(field)
        if not isinstance(value, str):
            raise InvalidResource(field, f"{field} is required (a string)")
        texts[field] = value
    lists: dict[str, tuple[str, ...]] = {}
    for field in ("areas", "languages"):
        value = body.get(field, [] if field == "languages" else None)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidResource(field, f"{field} is a list of strings")
        lists[field] = tuple(value)
    return Resource(
        name=texts["name"],
        category=texts["category"],
        areas=lists["areas"],
        languages=lists["languages"],
        phone=texts["phone"],
        hours=texts["hours"],
    )
