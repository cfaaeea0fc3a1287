"""The script editor's API under ``/api/v1/script`` (administrators only).

The draft is a working copy and may be broken; publishing runs the very checks of
``porchlight script validate`` (structure, then the safety lint with the alarm words set in
the dashboard) and refuses while any problem remains. A published text becomes the next
numbered version; a rollback publishes an old text again, through the same checks, so the
history only grows. With ``SCRIPT_APPROVAL`` a version waits for a second administrator.
Conversations already running keep the version they started on (``bot/library.py``).

The simulator keeps nothing on the server: its state travels in the page (``session``),
so trying a draft leaves no trace and works on any instance.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.library import ScriptLibrary
from bot.lint import Check, check_source
from bot.simulator import Said, Simulator
from handoff import auth
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from storage.audit import Actor, AuditLog
from storage.scripts import (
    PENDING,
    NotPending,
    ScriptStore,
    SelfApproval,
    Version,
    VersionNotFound,
)
from storage.users import Account

MAX_SOURCE = 256 * 1024
MAX_BODY = MAX_SOURCE + 16 * 1024
SIMULATED_CHANNELS = ("webchat", "sms", "whatsapp", "telegram")
MAX_WAIT_MINUTES = 7 * 24 * 60


def routes(
    store: Callable[[], ScriptStore],
    library: Callable[[], ScriptLibrary],
    audit: Callable[[], AuditLog],
    alarm_words: Callable[[], tuple[str, ...]],
    *,
    approval_required: bool,
) -> list[web.RouteDef]:
    """The editor's routes; the stores are built at start-up, so they are looked up."""

    def check(source: str) -> Check:
        return check_source(source, alarm_words())

    async def overview(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        name = library().name
        versions = await store().versions(name)
        live = await store().live(name)
        draft = await store().draft(name)
        return web.json_response(
            {
                "name": name,
                "live": _summary(live) if live else None,
                "draft": {
                    "source": draft.source if draft else (live.source if live else ""),
                    "saved": draft is not None,
                    "updated_by": draft.updated_by_name if draft else None,
                    "updated_at": draft.updated_at.isoformat() if draft else None,
                },
                "pending": [_summary(v) for v in versions if v.status == PENDING],
                "approval_required": approval_required,
            }
        )

    async def save_draft(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        source = _source(await json_body(request, MAX_BODY))
        draft = await store().save_draft(library().name, source, by_name=admin.username)
        await audit().record(Actor.of(admin), "script_draft_saved", library().name)
        found = check(source)
        return web.json_response({"saved_at": draft.updated_at.isoformat(), **_check_json(found)})

    async def check_draft(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        source = _source(await json_body(request, MAX_BODY))
        return web.json_response(_check_json(check(source)))

    async def simulate(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        body = await json_body(request, MAX_BODY)
        found = check_source(_source(body))
        if found.script is None:
            raise json_error(
                422, "not_a_script", "The draft does not load: fix the problems listed first."
            )
        script = found.script
        language, channel = body.get("language"), body.get("channel", "webchat")
        if language is not None and language not in script.languages:
            raise json_error(400, "invalid", f"'language' is one of {', '.join(script.languages)}")
        if channel not in SIMULATED_CHANNELS:
            raise json_error(400, "invalid", f"'channel' is one of {', '.join(SIMULATED_CHANNELS)}")
        action, session = body.get("action", "start"), body.get("session")
        if action == "start" or session is None:
            simulator = Simulator(script, language, channel)
            said = simulator.restart()
        else:
            try:
                simulator = Simulator.resume(script, session, language, channel)
            except ValueError as exc:
                raise json_error(409, "restart", f"Start the simulation again: {exc}.") from None
            said = _act(simulator, action, body)
        return web.json_response(
            {
                "said": [_said_json(item) for item in said],
                "session": simulator.to_session(),
                "where": simulator.describe(),
            }
        )

    async def publish(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        body = await json_body(request)
        note = _note(body)
        draft = await store().draft(library().name)
        if draft is None:
            raise json_error(409, "no_draft", "Save a draft before publishing it.")
        seen = body.get("draft_saved_at")
        if seen is not None and seen != draft.updated_at.isoformat():
            # Someone saved over the draft since this editor did: never publish unseen text.
            raise json_error(
                409,
                "draft_changed",
                f"{draft.updated_by_name} saved the draft since: reload it before publishing.",
            )
        version = await _publish(admin, draft.source, note, "script_published")
        return web.json_response(_summary(version), status=201)

    async def list_versions(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        versions = await store().versions(library().name)
        return web.json_response([_summary(v) for v in versions])

    async def show_version(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        version = await _version(request)
        if version.status == PENDING:
            # What approving would change: against what is live now, not the number before
            # (which may itself be pending and unseen by the approver).
            previous = await store().live(library().name)
        elif version.number > 1:
            previous = await store().version(library().name, version.number - 1)
        else:
            previous = None
        diff = difflib.unified_diff(
            previous.source.splitlines() if previous else [],
            version.source.splitlines(),
            fromfile=f"version {previous.number}" if previous else "nothing",
            tofile=f"version {version.number}",
            lineterm="",
        )
        return web.json_response(
            {**_summary(version), "source": version.source, "diff": "\n".join(diff)}
        )

    async def rollback(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        version = await _version(request)
        body = await json_body(request)
        note = _note(body, default=f"Back to version {version.number}")
        published = await _publish(
            admin, version.source, note, "script_rolled_back", f"to {version.number}"
        )
        return web.json_response(_summary(published), status=201)

    async def approve(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        number = _number(request)
        name = library().name
        try:
            pending = await store().version(name, number)
        except VersionNotFound:
            raise json_error(404, "not_found", "No such version.") from None
        live = await store().live(name)
        if live is not None and live.number > number:
            raise json_error(
                409, "superseded", f"Version {live.number} is live already: publish anew."
            )
        if admin.created_at > pending.created_at:
            # Otherwise one administrator could create a second account to approve with.
            raise json_error(
                403,
                "new_account",
                "Only an administrator whose account existed before this version can approve it.",
            )
        found = check(pending.source)  # the rules may have tightened since
        if not found.publishable:
            raise _refused(found)
        try:
            version = await store().approve(name, number, by_id=admin.id, by_name=admin.username)
        except NotPending:
            raise json_error(
                409, "not_pending", "That version is not waiting for approval."
            ) from None
        except SelfApproval:
            raise json_error(
                403, "own_version", "A second administrator must approve your version."
            ) from None
        await library().refresh()
        await audit().record(Actor.of(admin), "script_approved", f"{name}@{number}")
        return web.json_response(_summary(version))

    async def _publish(
        admin: Account, source: str, note: str, action: str, detail: str | None = None
    ) -> Version:
        found = check(source)
        if not found.publishable:
            raise _refused(found)
        name = library().name
        version = await store().add_version(
            name,
            source,
            note,
            author_id=admin.id,
            author_name=admin.username,
            pending=approval_required,
        )
        await library().refresh()
        await audit().record(Actor.of(admin), action, f"{name}@{version.number}", detail)
        return version

    async def _version(request: web.Request) -> Version:
        try:
            return await store().version(library().name, _number(request))
        except VersionNotFound:
            raise json_error(404, "not_found", "No such version.") from None

    return [
        web.get(f"{PREFIX}/script", overview),
        web.put(f"{PREFIX}/script/draft", save_draft),
        web.post(f"{PREFIX}/script/check", check_draft),
        web.post(f"{PREFIX}/script/simulate", simulate),
        web.post(f"{PREFIX}/script/publish", publish),
        web.get(f"{PREFIX}/script/versions", list_versions),
        web.get(f"{PREFIX}/script/versions/{{number}}", show_version),
        web.post(f"{PREFIX}/script/versions/{{number}}/rollback", rollback),
        web.post(f"{PREFIX}/script/versions/{{number}}/approve", approve),
    ]


def _act(simulator: Simulator, action: object, body: dict[str, Any]) -> list[Said]:
    """One step of the simulation the author asked for."""
    if action == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise json_error(400, "invalid", "'text' is what the person types")
        return simulator.send(text)
    if action == "timeout":
        return simulator.time_out()
    if action == "wait":
        minutes = body.get("minutes")
        if not isinstance(minutes, int | float) or not 0 < minutes <= MAX_WAIT_MINUTES:
            raise json_error(400, "invalid", f"'minutes' is a number from 1 to {MAX_WAIT_MINUTES}")
        return simulator.wait(float(minutes))
    raise json_error(400, "invalid", "'action' is start, text, timeout or wait")


def _source(body: dict[str, Any]) -> str:
    source = body.get("source")
    if not isinstance(source, str):
        raise json_error(400, "invalid", "'source' is the script's YAML text")
    if len(source.encode("utf-8")) > MAX_SOURCE:
        raise json_error(413, "too_large", f"a script is at most {MAX_SOURCE // 1024} KiB")
    return source


def _note(body: dict[str, Any], default: str | None = None) -> str:
    note = body.get("note", default)
    if not isinstance(note, str) or not note.strip():
        raise json_error(400, "invalid", "'note' says what changed (required)")
    if len(note) > 500:
        raise json_error(400, "invalid", "'note' is at most 500 characters")
    return note.strip()


def _number(request: web.Request) -> int:
    raw = request.match_info["number"]
    if not raw.isdigit():
        raise json_error(404, "not_found", "No such version.")
    return int(raw)


def _refused(found: Check) -> web.HTTPException:
    """422 listing every problem: the same list the editor shows inline."""
    count = len(found.problems)
    return json_error(
        422,
        "not_publishable",
        f"Not published: {count} problem{'s' if count != 1 else ''} must be fixed first.",
        problems=_check_json(found)["problems"],
    )


def _check_json(found: Check) -> dict[str, Any]:
    return {
        "publishable": found.publishable,
        "problems": [
            {"line": p.line, "rule": p.rule, "message": p.message} for p in found.problems
        ],
        "languages": list(found.script.languages) if found.script else [],
    }


def _said_json(item: Said) -> dict[str, Any]:
    return {"kind": item.kind, "text": item.text, "options": list(item.options)}


def _summary(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "note": version.note,
        "status": version.status,
        "author": version.created_by_name,
        "created_at": version.created_at.isoformat(),
        "approved_by": version.approved_by_name,
        "published_at": version.published_at.isoformat() if version.published_at else None,
    }
