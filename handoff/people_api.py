"""Accounts under ``/api/v1/users``: administrators list them and create new ones.

The same rules as ``porchlight user add`` apply (username format, role, a password of at
least 12 characters, stored only as an argon2id hash); every account created is audited.
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

    return [
        web.get(f"{PREFIX}/users", list_users),
        web.post(f"{PREFIX}/users", create_user),
    ]


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "disabled": account.disabled,
        "totp_enrolled": account.totp_enrolled,
    }
