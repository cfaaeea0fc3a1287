"""Administration under ``/api/v1``: accounts (``/users``) and the audit log (``/audit``).

The same rules as ``porchlight user add`` apply (username format, role, a password of at
least 12 characters, stored only as an argon2id hash); every account created is audited.
The audit log is read-only here, as everywhere in the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.api import PREFIX
from handoff.jsonapi import json_body, json_error
from storage.audit import Actor, AuditLog
from storage.users import Account, InvalidAccount, UserExists, UserStore

MAX_AUDIT_ENTRIES = 1000


def routes(users: Callable[[], UserStore], audit: Callable[[], AuditLog]) -> list[web.RouteDef]:
    """The account routes; the stores are built at start-up, so they are looked up."""

    async def list_users(request: web.Request) -> web.StreamResponse:
        await auth.require_role(request, "admin")
        return web.json_response([_account_json(a) for a in await users().list_users()])

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
        await audit().record(
            Actor(admin.id, admin.username), "user_created", account.id, account.role
        )
        return web.json_response(_account_json(account), status=201)

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
        web.get(f"{PREFIX}/audit", read_audit),
    ]


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "disabled": account.disabled,
        "totp_enrolled": account.totp_enrolled,
    }
