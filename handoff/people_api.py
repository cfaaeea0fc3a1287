"""Administration under ``/api/v1``: accounts (``/users``) and the audit log (``/audit``).

The same rules as ``porchlight user add`` apply (username format, role, a password of at
least 12 characters, stored only as an argon2id hash); every change to an account is
audited, never with a password or a two-factor secret in the entry. The audit log is
read-only here, as everywhere in the application.

What each change does to the person on the other end:

- Disabling signs them out everywhere at once (their next request is a 401), takes them off
  call, and returns every conversation they hold to the queue (in its old place: priority,
  then time waited), to be offered afresh to the advocates on call. A person must never be
  left talking to an account nobody can use; refusing instead ("hand over first") would
  leave an admin unable to lock out a stolen or misused account that holds a conversation.
- A password reset or a two-factor reset signs them out everywhere too; after a two-factor
  reset they enrol again at their next sign-in (if their role requires it).
- A role change takes effect at their next request; their sessions stay.

An admin cannot disable, demote, reset the password of, or reset the two-factor of their own
account here: a dashboard left open must not be enough to take over or lock out the account.
Nobody can disable or demote the last enabled admin, so somebody can always manage accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from handoff.service import DASHBOARD_ROLES, notification_text
from porchlight.state import EVENTS, SERVICES
from storage.audit import Actor, AuditLog
from storage.presence import Presence
from storage.users import (
    ROLES,
    Account,
    InvalidAccount,
    LastAdmin,
    UnknownUser,
    UserExists,
    UserStore,
)

MAX_AUDIT_ENTRIES = 1000
CHANGEABLE = frozenset({"disabled", "role"})


def routes(users: Callable[[], UserStore], audit: Callable[[], AuditLog]) -> list[web.RouteDef]:
    """The account routes; the stores are built at start-up, so they are looked up."""

    async def list_users(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        on_call = await _presence_by_id(request)
        return web.json_response(
            [_account_json(a, on_call.get(a.id)) for a in await users().list_users()]
        )

    async def create_user(request: web.Request) -> web.StreamResponse:
        admin = await auth.require_role(request, "admin")
        body = await json_body(request)
        username, role, password = body.get("username"), body.get("role"), body.get("password")
        if not all(isinstance(v, str) for v in (username, role, password)):
            raise json_error(400, "invalid", "'username', 'role' and 'password' are strings")
        try:
            account = await users().add_user(
                username=str(username), role=str(role), password=str(password)
            )
        except UserExists:
            raise json_error(409, "exists", "Someone already has that username.") from None
        except InvalidAccount as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(Actor.of(admin), "user_created", account.id, account.role)
        return web.json_response(_account_json(account, None), status=201)

    async def change_user(request: web.Request) -> web.StreamResponse:
        """Disable, enable, promote or demote; see the module docstring for the effects."""
        admin = await auth.require_role(request, "admin")
        target = await _target(request, users())
        disabled, role = _changes(await json_body(request))
        if target.id == admin.id and (disabled is True or role not in (None, "admin")):
            raise json_error(
                409,
                "own_account",
                "You cannot disable or demote your own account: ask another administrator.",
            )
        try:
            if role is not None and role != target.role:
                await users().set_role(target.id, role)
                await audit().record(
                    Actor.of(admin), "user_role_changed", target.id, f"{target.role} to {role}"
                )
            if disabled is True and not target.disabled:
                await _disable(request, admin, target)
            elif disabled is False and target.disabled:
                await users().set_disabled(target.id, False)
                await audit().record(Actor.of(admin), "user_enabled", target.id)
        except LastAdmin:
            raise json_error(
                409,
                "last_admin",
                "This is the last enabled administrator: make someone else an administrator first.",
            ) from None
        except UnknownUser:
            raise _no_such_account() from None
        changed = await _target(request, users())
        on_call = await _presence_by_id(request)
        return web.json_response(_account_json(changed, on_call.get(changed.id)))

    async def _disable(request: web.Request, admin: Account, target: Account) -> None:
        released = await users().disable(target.id)
        await request.app[auth.SESSIONS].end_all_for(target.id)
        detail = f"{len(released)} conversation(s) returned to the queue" if released else None
        await audit().record(Actor.of(admin), "user_disabled", target.id, detail)
        for handoff_id in released:
            await audit().record(Actor.of(admin), "handoff_released", handoff_id, "holder disabled")
        events = request.app[EVENTS]
        events.to_user(target.id, {"type": "availability", "available": False})
        events.to_roles(("admin",), {"type": "presence"})
        if released:
            queue = await request.app[SERVICES].handoffs.queue()
            events.to_roles(
                DASHBOARD_ROLES,
                {"type": "queue", "waiting": len(queue), "text": notification_text(queue)},
            )

    async def reset_password(request: web.Request) -> web.StreamResponse:
        """A new temporary password; every session ends and the lockout is lifted."""
        admin = await auth.require_role(request, "admin")
        target = await _target(request, users())
        body = await json_body(request)
        password = body.get("password")
        if set(body) != {"password"} or not isinstance(password, str):
            raise json_error(400, "invalid", 'The body is {"password": "..."} and nothing else.')
        if target.id == admin.id:
            raise json_error(
                409, "own_account", "Ask another administrator to reset your own password."
            )
        try:
            await users().set_password(target.id, password)
        except InvalidAccount as exc:
            raise json_error(400, "invalid", str(exc)) from None
        except UnknownUser:
            raise _no_such_account() from None
        await request.app[auth.SESSIONS].end_all_for(target.id)
        await audit().record(Actor.of(admin), "password_reset", target.id)
        return web.Response(status=204)

    async def reset_totp(request: web.Request) -> web.StreamResponse:
        """Remove two-factor: every session ends, and the next sign-in enrols again."""
        admin = await auth.require_role(request, "admin")
        target = await _target(request, users())
        if target.id == admin.id:
            raise json_error(
                409,
                "own_account",
                "Replace your own two-factor from your own settings, with a current code.",
            )
        await users().clear_totp(target.id)
        await request.app[auth.SESSIONS].end_all_for(target.id)
        await audit().record(
            Actor.of(admin),
            "totp_reset",
            target.id,
            None if target.totp_enrolled else "had no two-factor",
        )
        return web.Response(status=204)

    async def read_audit(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        limit = request.query.get("limit", "200")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_AUDIT_ENTRIES:
            raise json_error(400, "invalid", f"'limit' is a number from 1 to {MAX_AUDIT_ENTRIES}")
        entries = await audit().entries(
            action=request.query.get("action") or None,
            actor_id=request.query.get("actor") or None,
            target=request.query.get("target") or None,
            limit=int(limit),
        )
        return web.json_response(
            [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )

    return [
        web.get(f"{PREFIX}/users", list_users),
        web.post(f"{PREFIX}/users", create_user),
        web.patch(f"{PREFIX}/users/{{id}}", change_user),
        web.post(f"{PREFIX}/users/{{id}}/password", reset_password),
        web.delete(f"{PREFIX}/users/{{id}}/totp", reset_totp),
        web.get(f"{PREFIX}/audit", read_audit),
    ]


async def _target(request: web.Request, users: UserStore) -> Account:
    account = await users.get(request.match_info["id"])
    if account is None:
        raise _no_such_account()
    return account


def _no_such_account() -> web.HTTPException:
    return json_error(404, "not_found", "No such account.")


def _changes(body: dict[str, Any]) -> tuple[bool | None, str | None]:
    """The PATCH body's ``disabled`` and ``role``, each None when not given; 400 if malformed."""
    unknown = set(body) - CHANGEABLE
    if unknown or not body:
        raise json_error(
            400, "invalid", "Send 'disabled' (true or false) and/or 'role', and nothing else."
        )
    disabled, role = body.get("disabled"), body.get("role")
    if "disabled" in body and not isinstance(disabled, bool):
        raise json_error(400, "invalid", "'disabled' must be true or false.")
    if "role" in body and role not in ROLES:
        raise json_error(400, "invalid", f"'role' must be one of {', '.join(ROLES)}.")
    return disabled, role


async def _presence_by_id(request: web.Request) -> dict[str, Presence]:
    return {p.user_id: p for p in await request.app[SERVICES].presence.everyone()}


def _account_json(account: Account, presence: Presence | None) -> dict[str, Any]:
    """An account for admins; ``presence`` is None for disabled (or brand-new) accounts."""
    last_seen = presence.last_seen_at if presence is not None else None
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "disabled": account.disabled,
        "totp_enrolled": account.totp_enrolled,
        "available": presence is not None and presence.available,
        "last_seen_at": last_seen.isoformat() if last_seen is not None else None,
    }
