"""Dashboard sign-in: passwords, two-factor codes, lockout, sessions and CSRF.

Every dashboard page and API route goes through :func:`current_account`, which checks the
session cookie and, for roles that must use two-factor, that it has been set up. Every
request that changes something must also carry the session's CSRF token in
``X-CSRF-Token`` and, when a browser sends an ``Origin``, come from this site: the cookie is
``SameSite=Strict`` as well, but a survivor's conversation is worth three locks.

Answers never say which part of a sign-in was wrong ("Wrong username, password or code"), and
a missing username costs the same password hash as a real one, so the sign-in form cannot be
used to find out who works here.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from yarl import URL

from handoff import totp
from handoff.jsonapi import json_body, json_error
from porchlight.state import SERVICES, SETTINGS
from storage.audit import Actor
from storage.models import utcnow
from storage.sessions import SessionStore, SignedIn
from storage.users import Account

logger = logging.getLogger(__name__)

COOKIE = "porchlight_session"
CSRF_HEADER = "X-CSRF-Token"
SESSIONS = web.AppKey("dashboard_sessions", SessionStore)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("auth_clock")
# Enrolment secrets waiting for their first code, by session: kept in memory on purpose, so
# an unconfirmed secret is never written anywhere. A restart just means scanning again.
PENDING_TOTP = web.AppKey("pending_totp", dict[str, str])
# The session the middleware found for this request (None: not signed in).
_SIGNED_IN: web.RequestKey[SignedIn | None] = web.RequestKey("signed_in")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIXES = ("/api/v1/", "/dashboard")
SIGN_IN = ("POST", "/api/v1/session")
# What a session that still has to set up two-factor may reach.
ENROLMENT_PATHS = frozenset({"/api/v1/me", "/api/v1/me/totp", "/api/v1/me/totp/confirm"})
MAX_FIELD = 1024
WRONG = "Wrong username, password or code."


def setup_auth(app: web.Application, clock: Callable[[], datetime] = utcnow) -> None:
    """Install the middleware, the session routes, and the session store at start-up."""
    app[CLOCK] = clock
    app[PENDING_TOTP] = {}

    async def sessions(app: web.Application) -> AsyncIterator[None]:
        app[SESSIONS] = SessionStore(app[SERVICES].sessions, clock=clock)
        yield

    app.cleanup_ctx.append(sessions)
    app.middlewares.append(_guard)
    app.router.add_routes(
        [
            web.post("/api/v1/session", _sign_in),
            web.delete("/api/v1/session", _sign_out),
            web.get("/api/v1/me", _me),
            web.post("/api/v1/me/totp", _start_enrolment),
            web.post("/api/v1/me/totp/confirm", _confirm_enrolment),
        ]
    )


async def current_account(request: web.Request) -> Account:
    """The signed-in account, or a JSON 401 (403 while two-factor still has to be set up)."""
    account = await _account_or_none(request)
    if account is None:
        raise json_error(401, "not_signed_in", "Please sign in.")
    if _must_enrol(request, account) and request.path not in ENROLMENT_PATHS:
        raise json_error(
            403, "totp_enrolment_required", "Set up two-factor sign-in before going on."
        )
    return account


async def require_role(request: web.Request, role: str) -> Account:
    """The signed-in account if it has ``role``; a JSON 403 otherwise."""
    account = await current_account(request)
    if account.role != role:
        raise json_error(403, "forbidden", f"Only an {role} can do this.")
    return account


def csrf_token_for(request: web.Request) -> str | None:
    """The CSRF token of the request's session, for pages to hand to their script."""
    signed_in = request.get(_SIGNED_IN)
    return None if signed_in is None else signed_in.csrf_token


# -- the middleware ---------------------------------------------------------------------


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith(GUARDED_PREFIXES):
        return await handler(request)
    token = request.cookies.get(COOKIE)
    signed_in = await request.app[SESSIONS].find(token) if token else None
    request[_SIGNED_IN] = signed_in
    upgrading = request.headers.get("Upgrade", "").lower() == "websocket"
    if (request.method in UNSAFE_METHODS or upgrading) and not _same_origin(request):
        raise json_error(403, "cross_origin", "Requests from other sites are refused.")
    if request.method in UNSAFE_METHODS and (request.method, request.path) != SIGN_IN:
        if signed_in is None:
            raise json_error(401, "not_signed_in", "Please sign in.")
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
            raise json_error(403, "csrf", "Missing or wrong CSRF token: reload the page.")
    return await handler(request)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser, or a same-origin request that omits it
    try:
        parsed = URL(origin)
    except ValueError:
        return False
    return (parsed.host, parsed.port) == (request.url.host, request.url.port)


# -- routes -----------------------------------------------------------------------------


async def _sign_in(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    username, password, code = body.get("username"), body.get("password"), body.get("totp")
    if not isinstance(username, str) or not isinstance(password, str):
        raise json_error(400, "invalid", "'username' and 'password' must be strings.")
    if code is not None and not isinstance(code, str):
        raise json_error(400, "invalid", "'totp' must be a string when given.")
    if max(len(username), len(password), len(code or "")) > MAX_FIELD:
        raise json_error(400, "invalid", f"Fields are at most {MAX_FIELD} characters.")
    services = request.app[SERVICES]
    users, audit = services.users, services.audit
    now = request.app[CLOCK]()

    locked_until = await users.locked_until(username)
    if locked_until is not None:
        wait = math.ceil((locked_until - now).total_seconds())
        error = json_error(
            429,
            "locked",
            f"Too many failed attempts. Try again in {math.ceil(wait / 60)} minute(s).",
        )
        error.headers["Retry-After"] = str(max(wait, 1))
        raise error

    account = await users.authenticate(username, password)
    if account is None:
        known = await users.get_by_username(username)
        if known is not None:
            await users.record_failed_login(known.id)
        await audit.record(Actor(None, "anonymous"), "login_failed", known.id if known else None)
        raise json_error(401, "invalid_credentials", WRONG)

    if account.totp_enrolled:
        if not code:
            raise json_error(401, "totp_required", "Enter the code from your authenticator app.")
        secret = await users.totp_secret(account.id)
        step = totp.matching_step(secret or "", code, now)
        if step is None or not await users.use_totp_step(account.id, step):
            await users.record_failed_login(account.id)
            await audit.record(Actor(None, "anonymous"), "login_failed", account.id)
            raise json_error(401, "invalid_credentials", WRONG)

    await users.record_login(account.id)
    token, signed_in = await request.app[SESSIONS].create(account.id)
    await audit.record(Actor(account.id, account.username), "login", account.id)
    logger.info("dashboard: a %s signed in", account.role)
    response = web.json_response(
        {"csrf_token": signed_in.csrf_token, "user": _user_json(request, account)}
    )
    response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="Strict", path="/")
    return response


async def _sign_out(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    signed_in = _session(request)
    await request.app[SESSIONS].end(signed_in.digest)
    request.app[PENDING_TOTP].pop(signed_in.digest, None)
    await request.app[SERVICES].audit.record(
        Actor(account.id, account.username), "logout", account.id
    )
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def _me(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    return web.json_response(_user_json(request, account))


async def _start_enrolment(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    if account.totp_enrolled:
        raise json_error(
            409, "already_enrolled", "Two-factor is already set up; ask an admin to reset it."
        )
    secret = totp.new_secret()
    signed_in = _session(request)
    request.app[PENDING_TOTP][signed_in.digest] = secret
    uri = totp.provisioning_uri(secret, account.username)
    return web.json_response({"secret": secret, "otpauth_uri": uri, "qr_svg": totp.qr_svg(uri)})


async def _confirm_enrolment(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    body = await json_body(request)
    code = body.get("code")
    signed_in = _session(request)
    secret = request.app[PENDING_TOTP].get(signed_in.digest)
    if secret is None:
        raise json_error(409, "no_enrolment", "Start two-factor set-up first.")
    if not isinstance(code, str):
        raise json_error(400, "invalid", "'code' must be the six digits your app shows.")
    step = totp.matching_step(secret, code, request.app[CLOCK]())
    if step is None:
        raise json_error(400, "wrong_code", "That code is not right. Check the time on your phone.")
    users = request.app[SERVICES].users
    await users.set_totp_secret(account.id, secret)
    await users.use_totp_step(account.id, step)  # the confirming code cannot sign in again
    del request.app[PENDING_TOTP][signed_in.digest]
    await request.app[SERVICES].audit.record(
        Actor(account.id, account.username), "totp_enrolled", account.id
    )
    return web.json_response({"totp_enrolled": True})


# -- helpers ----------------------------------------------------------------------------


async def _account_or_none(request: web.Request) -> Account | None:
    signed_in = request.get(_SIGNED_IN)
    if signed_in is None:
        return None
    account = await request.app[SERVICES].users.get(signed_in.user_id)
    if account is None or account.disabled:
        return None
    return account


def _must_enrol(request: web.Request, account: Account) -> bool:
    return account.role in request.app[SETTINGS].totp_required_roles and not account.totp_enrolled


def _user_json(request: web.Request, account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "totp_enrolled": account.totp_enrolled,
        "totp_enrolment_required": _must_enrol(request, account),
    }


def _session(request: web.Request) -> SignedIn:
    """The request's session, where current_account has already made sure there is one."""
    signed_in = request.get(_SIGNED_IN)
    if signed_in is None:
        raise json_error(401, "not_signed_in", "Please sign in.")
    return signed_in
