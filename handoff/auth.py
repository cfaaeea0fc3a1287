"""Dashboard sign-in: passwords, two-factor codes, lockout, sessions and CSRF.

Every dashboard page and API route goes through :func:`current_account`, which checks the
session cookie and, for roles that must use two-factor, that it has been set up. Every
request that changes something must also carry the session's CSRF token in
``X-CSRF-Token`` and, when a browser sends an ``Origin``, come from this site (the address
the request came to, or ``PUBLIC_URL`` when a TLS proxy stands in front): the cookie is
``SameSite=Strict`` as well, but a survivor's conversation is worth three locks.

Answers never say which part of a sign-in was wrong ("Wrong username, password or code"), and
a missing username costs the same password hash as a real one, so the sign-in form cannot be
used to find out who works here.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from handoff import totp
from handoff.jsonapi import json_body, json_error
from porchlight.state import SERVICES, SETTINGS
from porchlight.web import same_origin
from storage.audit import Actor
from storage.models import utcnow
from storage.sessions import IDLE_LIMIT, SessionStore, SignedIn
from storage.users import Account

logger = logging.getLogger(__name__)

COOKIE = "porchlight_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_FIELD = 1024
WRONG = "Wrong username, password or code."
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIXES = ("/api/v1/", "/dashboard")
SIGN_IN = ("POST", "/api/v1/session")
# What a session that still has to set up two-factor may reach: who am I, the set-up itself,
# and signing out.
ENROLMENT_ROUTES = frozenset(
    {
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/me/totp"),
        ("POST", "/api/v1/me/totp/confirm"),
        ("DELETE", "/api/v1/session"),
    }
)


@dataclass(frozen=True, slots=True)
class PendingSecret:
    """A two-factor secret shown to its owner and waiting for the first code."""

    secret: str
    started_at: datetime
    replacing: bool  # the account already had one, and proved it with a current code


SESSIONS = web.AppKey("dashboard_sessions", SessionStore)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("auth_clock")
# Pending secrets by session digest, kept in memory on purpose: a secret nobody confirmed is
# never written anywhere, not even sealed. A restart (or, with several instances, reaching
# another one) only means scanning a new QR code.
PENDING_TOTP = web.AppKey("pending_totp", dict[str, PendingSecret])
# One sign-in attempt at a time per username, so a burst of parallel guesses cannot all be
# checked before the first failures lock the account. Weak values: a lock lives only while
# someone is waiting on it, so made-up usernames do not pile up.
ATTEMPT_LOCKS = web.AppKey("sign_in_locks", weakref.WeakValueDictionary[str, asyncio.Lock])
# The session the middleware found for this request (None: not signed in).
_SIGNED_IN: web.RequestKey[SignedIn | None] = web.RequestKey("signed_in")


def setup_auth(app: web.Application, clock: Callable[[], datetime] = utcnow) -> None:
    """Install the middleware, the session routes, and the session store at start-up."""
    app[CLOCK] = clock
    app[PENDING_TOTP] = {}
    app[ATTEMPT_LOCKS] = weakref.WeakValueDictionary()

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
    if _must_enrol(request, account) and (request.method, request.path) not in ENROLMENT_ROUTES:
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
    if (request.method in UNSAFE_METHODS or upgrading) and not same_origin(
        request, request.app[SETTINGS].public_url
    ):
        raise json_error(403, "cross_origin", "Requests from other sites are refused.")
    if request.method in UNSAFE_METHODS and (request.method, request.path) != SIGN_IN:
        if signed_in is None:
            raise json_error(401, "not_signed_in", "Please sign in.")
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
            raise json_error(403, "csrf", "Missing or wrong CSRF token: reload the page.")
    return await handler(request)


# -- signing in and out -----------------------------------------------------------------


async def _sign_in(request: web.Request) -> web.StreamResponse:
    username, password, code = _sign_in_fields(await json_body(request))
    async with _attempt_lock(request.app, username):
        account = await _check_sign_in(request, username, password, code)
    sessions = request.app[SESSIONS]
    previous = request.get(_SIGNED_IN)
    if previous is not None:  # someone else signing in on a shared computer ends the last one
        await sessions.end(previous.digest)
        request.app[PENDING_TOTP].pop(previous.digest, None)
    token, signed_in = await sessions.create(account.id)
    await request.app[SERVICES].audit.record(Actor.of(account), "login", account.id)
    logger.info("dashboard: a %s signed in", account.role)
    response = web.json_response(
        {"csrf_token": signed_in.csrf_token, "user": _user_json(request, account)}
    )
    response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="Strict", path="/")
    return response


def _sign_in_fields(body: dict[str, Any]) -> tuple[str, str, str | None]:
    username, password, code = body.get("username"), body.get("password"), body.get("totp")
    if not isinstance(username, str) or not isinstance(password, str):
        raise json_error(400, "invalid", "'username' and 'password' must be strings.")
    if code is not None and not isinstance(code, str):
        raise json_error(400, "invalid", "'totp' must be a string when given.")
    if max(len(username), len(password), len(code or "")) > MAX_FIELD:
        raise json_error(400, "invalid", f"Fields are at most {MAX_FIELD} characters.")
    return username, password, code


async def _check_sign_in(
    request: web.Request, username: str, password: str, code: str | None
) -> Account:
    """The account if password (and code, when it has two-factor) are right; raises if not."""
    users = request.app[SERVICES].users
    now = request.app[CLOCK]()
    locked_until = await users.locked_until(username)
    if locked_until is not None:
        raise _locked(locked_until, now)

    account = await users.authenticate(username, password)
    if account is None:
        known = await users.get_by_username(username)
        raise await _failed(request, known.id if known else None)

    if account.totp_enrolled:
        if not code:
            raise json_error(401, "totp_required", "Enter the code from your authenticator app.")
        if not await _accept_code(request, account, code, now):
            raise await _failed(request, account.id)

    await users.record_login(account.id)
    return account


async def _failed(request: web.Request, user_id: str | None) -> web.HTTPException:
    """Count and audit a failed sign-in; the answer is the same whatever was wrong."""
    services = request.app[SERVICES]
    locked = await services.users.record_failed_login(user_id) if user_id else None
    detail = None
    if locked is not None:
        minutes = math.ceil((locked - request.app[CLOCK]()).total_seconds() / 60)
        detail = f"locked for {minutes} minute(s)"
        logger.warning("dashboard: an account was locked after repeated failed sign-ins")
    await services.audit.record(Actor(None, "anonymous"), "login_failed", user_id, detail)
    return json_error(401, "invalid_credentials", WRONG)


def _locked(until: datetime, now: datetime) -> web.HTTPException:
    wait = max(math.ceil((until - now).total_seconds()), 1)
    error = json_error(
        429, "locked", f"Too many failed attempts. Try again in {math.ceil(wait / 60)} minute(s)."
    )
    error.headers["Retry-After"] = str(wait)
    return error


async def _accept_code(request: web.Request, account: Account, code: str, now: datetime) -> bool:
    """Whether ``code`` is the account's current code, used for the first time."""
    users = request.app[SERVICES].users
    secret = await users.totp_secret(account.id)
    step = totp.matching_step(secret, code, now) if secret else None
    return step is not None and await users.use_totp_step(account.id, step)


def _attempt_lock(app: web.Application, username: str) -> asyncio.Lock:
    return app[ATTEMPT_LOCKS].setdefault(username.lower(), asyncio.Lock())


async def _sign_out(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    signed_in = _session(request)
    await request.app[SESSIONS].end(signed_in.digest)
    request.app[PENDING_TOTP].pop(signed_in.digest, None)
    await request.app[SERVICES].audit.record(Actor.of(account), "logout", account.id)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response


async def _me(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    return web.json_response(_user_json(request, account))


# -- two-factor enrolment ---------------------------------------------------------------


async def _start_enrolment(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    if account.totp_enrolled:
        await _prove_current_code(request, account)
    now = request.app[CLOCK]()
    pending = request.app[PENDING_TOTP]
    for digest in [d for d, p in pending.items() if now - p.started_at > IDLE_LIMIT]:
        del pending[digest]  # its session has ended by now
    secret = totp.new_secret()
    pending[_session(request).digest] = PendingSecret(secret, now, account.totp_enrolled)
    uri = totp.provisioning_uri(secret, account.username)
    return web.json_response({"secret": secret, "otpauth_uri": uri, "qr_svg": totp.qr_svg(uri)})


async def _prove_current_code(request: web.Request, account: Account) -> None:
    """Replacing two-factor needs a current code, so a session left open cannot do it.

    Wrong codes count towards the lockout like failed sign-ins do.
    """
    body = await json_body(request) if request.body_exists else {}
    code = body.get("code")
    if code is None:
        raise json_error(
            409,
            "already_enrolled",
            "Two-factor is already set up: send a current code as 'code' to replace it.",
        )
    if not isinstance(code, str) or len(code) > MAX_FIELD:
        raise json_error(400, "invalid", "'code' must be the six digits your app shows.")
    users = request.app[SERVICES].users
    async with _attempt_lock(request.app, account.username):
        now = request.app[CLOCK]()
        locked_until = await users.locked_until(account.username)
        if locked_until is not None:
            raise _locked(locked_until, now)
        if not await _accept_code(request, account, code, now):
            await users.record_failed_login(account.id)
            raise json_error(400, "wrong_code", "That code is not right.")


async def _confirm_enrolment(request: web.Request) -> web.StreamResponse:
    account = await current_account(request)
    body = await json_body(request)
    code = body.get("code")
    signed_in = _session(request)
    pending = request.app[PENDING_TOTP].get(signed_in.digest)
    if pending is None:
        raise json_error(409, "no_enrolment", "Start two-factor set-up first.")
    if not isinstance(code, str) or len(code) > MAX_FIELD:
        raise json_error(400, "invalid", "'code' must be the six digits your app shows.")
    step = totp.matching_step(pending.secret, code, request.app[CLOCK]())
    if step is None:
        raise json_error(400, "wrong_code", "That code is not right. Check the time on your phone.")
    users = request.app[SERVICES].users
    await users.set_totp_secret(account.id, pending.secret)
    await users.use_totp_step(account.id, step)  # the confirming code cannot sign in again
    del request.app[PENDING_TOTP][signed_in.digest]
    await request.app[SERVICES].audit.record(
        Actor.of(account),
        "totp_enrolled",
        account.id,
        "replaced the previous secret" if pending.replacing else None,
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
