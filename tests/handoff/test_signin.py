"""Signing in to the dashboard: passwords, two-factor, lockout, sessions, CSRF, origins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config import Settings
from porchlight.state import SERVICES
from storage.models import DashboardSession
from storage.users import Account
from tests.clock import FakeClock
from tests.conftest import MakeApp

PASSWORD = "correct horse battery"
WRONG = {"error": "invalid_credentials", "message": "Wrong username, password or code."}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: Settings, make_app: MakeApp, clock: FakeClock) -> web.Application:
    return make_app(settings, clock=clock)


@pytest.fixture
async def browser(client: TestClient[Any, Any]) -> AsyncIterator[TestClient[Any, Any]]:
    """A client whose cookie jar treats the test server as https, like a real browser would."""
    jar = CookieJar(unsafe=True, treat_as_secure_origin=[client.make_url("/")])
    http: TestClient[Any, Any] = TestClient(client.server, cookie_jar=jar)
    await http.start_server()
    yield http
    await http.close()


async def account(app: web.Application, name: str = "ana", role: str = "advocate") -> Account:
    return await app[SERVICES].users.add_user(username=name, role=role, password=PASSWORD)


async def enrol(app: web.Application, user: Account) -> pyotp.TOTP:
    secret = pyotp.random_base32()
    await app[SERVICES].users.set_totp_secret(user.id, secret)
    return pyotp.TOTP(secret)


async def sign_in(http: TestClient[Any, Any], **body: Any) -> tuple[int, Any, Any]:
    response = await http.post("/api/v1/session", json={"username": "ana", **body})
    return response.status, await response.json(), response


async def test_signing_in_sets_a_locked_down_session_cookie(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    status, body, response = await sign_in(browser, password=PASSWORD)
    assert status == 200
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "ana",
        "role": "advocate",
        "totp_enrolled": False,
        "totp_enrolment_required": False,
    }
    cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert (await browser.get("/api/v1/me")).status == 200
    entries = await app[SERVICES].audit.entries(action="login")
    assert [e.actor for e in entries] == ["ana"]


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    status, body, _ = await sign_in(browser, password="not the password")
    assert (status, body) == (401, WRONG)
    response = await browser.post(
        "/api/v1/session", json={"username": "nobody", "password": PASSWORD}
    )
    assert (response.status, await response.json()) == (401, WRONG)
    assert (await browser.get("/api/v1/me")).status == 401
    assert len(await app[SERVICES].audit.entries(action="login_failed")) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ana"},
        {"username": 5, "password": "x"},
        {"username": "ana", "password": "x", "totp": 123},
    ],
)
async def test_malformed_sign_ins_are_refused_clearly(
    browser: TestClient[Any, Any], body: dict[str, Any]
) -> None:
    response = await browser.post("/api/v1/session", json=body)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid"


async def test_an_enrolled_account_needs_a_fresh_code_that_cannot_be_replayed(
    app: web.Application, browser: TestClient[Any, Any], clock: FakeClock
) -> None:
    user = await account(app)
    codes = await enrol(app, user)
    status, body, _ = await sign_in(browser, password=PASSWORD)
    assert (status, body["error"]) == (401, "totp_required")
    status, body, _ = await sign_in(browser, password=PASSWORD, totp="000000")
    assert (status, body) == (401, WRONG)
    code = codes.at(clock.now)
    assert (await sign_in(browser, password=PASSWORD, totp=code))[0] == 200
    status, body, _ = await sign_in(browser, password=PASSWORD, totp=code)
    assert (status, body) == (401, WRONG), "a code read over a shoulder cannot be used again"
    clock.advance(seconds=30)
    assert (await sign_in(browser, password=PASSWORD, totp=codes.at(clock.now)))[0] == 200


async def test_repeated_failures_lock_the_account_for_longer_each_time(
    app: web.Application, browser: TestClient[Any, Any], clock: FakeClock
) -> None:
    await account(app)
    for _ in range(5):
        assert (await sign_in(browser, password="guess"))[0] == 401
    status, body, response = await sign_in(browser, password=PASSWORD)
    assert (status, body["error"]) == (429, "locked"), "even the right password waits"
    assert response.headers["Retry-After"] == "60"
    clock.advance(seconds=61)
    assert (await sign_in(browser, password="guess again"))[0] == 401
    status, _, response = await sign_in(browser, password=PASSWORD)
    assert status == 429
    assert response.headers["Retry-After"] == "120"  # doubled
    clock.advance(minutes=3)
    assert (await sign_in(browser, password=PASSWORD))[0] == 200
    assert (await sign_in(browser, password="guess"))[0] == 401  # count starts again
    assert (await sign_in(browser, password=PASSWORD))[0] == 200


async def test_sessions_end_after_30_idle_minutes(
    app: web.Application, browser: TestClient[Any, Any], clock: FakeClock
) -> None:
    await account(app)
    await sign_in(browser, password=PASSWORD)
    clock.advance(minutes=29)
    assert (await browser.get("/api/v1/me")).status == 200  # in use: kept alive
    clock.advance(minutes=29)
    assert (await browser.get("/api/v1/me")).status == 200
    clock.advance(minutes=31)
    assert (await browser.get("/api/v1/me")).status == 401


async def test_sessions_end_after_12_hours_however_busy(
    app: web.Application, browser: TestClient[Any, Any], clock: FakeClock
) -> None:
    await account(app)
    await sign_in(browser, password=PASSWORD)
    for _ in range(24):
        clock.advance(minutes=29)
        await browser.get("/api/v1/me")
    clock.advance(minutes=29)  # 12 h 05 min after signing in
    assert (await browser.get("/api/v1/me")).status == 401


async def test_admins_must_set_up_two_factor_before_anything_else(
    app: web.Application, browser: TestClient[Any, Any], clock: FakeClock
) -> None:
    await account(app, "root", role="admin")
    response = await browser.post(
        "/api/v1/session", json={"username": "root", "password": PASSWORD}
    )
    body = await response.json()
    assert body["user"]["totp_enrolment_required"] is True
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    blocked = await browser.get("/api/v1/handoffs")
    assert (blocked.status, (await blocked.json())["error"]) == (403, "totp_enrolment_required")
    page = await browser.get("/dashboard", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (302, "/dashboard/two-factor")

    started = await (await browser.post("/api/v1/me/totp", headers=csrf)).json()
    assert started["otpauth_uri"].startswith("otpauth://totp/Porchlight:root")
    assert started["qr_svg"].lstrip().startswith("<?xml")
    wrong = await browser.post("/api/v1/me/totp/confirm", json={"code": "123456"}, headers=csrf)
    assert wrong.status == 400
    code = pyotp.TOTP(started["secret"]).at(clock.now)
    confirmed = await browser.post("/api/v1/me/totp/confirm", json={"code": code}, headers=csrf)
    assert confirmed.status == 200
    assert (await browser.get("/api/v1/handoffs")).status == 200
    assert [e.action for e in await app[SERVICES].audit.entries(action="totp_enrolled")] == [
        "totp_enrolled"
    ]
    again = await browser.post("/api/v1/me/totp", headers=csrf)
    assert again.status == 409, "an enrolled secret cannot be replaced from a session"


async def test_changes_need_the_sessions_csrf_token(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    _, body, _ = await sign_in(browser, password=PASSWORD)
    path = "/api/v1/me/availability"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = await browser.put(path, json={"available": True}, headers=headers)
        assert (response.status, (await response.json())["error"]) == (403, "csrf")
    ok = await browser.put(
        path, json={"available": True}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert ok.status == 200


async def test_requests_from_another_site_are_refused(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    _, body, _ = await sign_in(browser, password=PASSWORD)
    response = await browser.put(
        "/api/v1/me/availability",
        json={"available": True},
        headers={"X-CSRF-Token": body["csrf_token"], "Origin": "https://evil.example"},
    )
    assert (response.status, (await response.json())["error"]) == (403, "cross_origin")
    forged = await browser.post(
        "/api/v1/session",
        json={"username": "ana", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status == 403


async def test_signing_out_ends_the_session(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    _, body, _ = await sign_in(browser, password=PASSWORD)
    response = await browser.delete("/api/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert response.status == 204
    assert (await browser.get("/api/v1/me")).status == 401
    assert [e.action for e in await app[SERVICES].audit.entries(action="logout")] == ["logout"]


async def test_the_database_holds_no_usable_session_token(
    app: web.Application, browser: TestClient[Any, Any]
) -> None:
    await account(app)
    _, _, response = await sign_in(browser, password=PASSWORD)
    token = response.cookies["porchlight_session"].value
    async with app[SERVICES].sessions() as session:
        stored = list(await session.scalars(select(DashboardSession.token_digest)))
    assert stored
    assert token not in stored
