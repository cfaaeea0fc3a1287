"""Dashboard sign-in rules beyond the basics in test_signin.py.

Two-factor for advocates too, replacing two-factor, signing out before enrolling, disabled
accounts, bursts of guesses, codes counting towards the lockout, audit entries, malformed
bodies, cross-site websockets, the origin behind a TLS proxy, and what reaches the logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from porchlight.state import SERVICES
from storage.users import Account
from tests.clock import FakeClock
from tests.conftest import MakeApp
from tests.factories import make_settings

PASSWORD = "correct horse battery"
WRONG = {"error": "invalid_credentials", "message": "Wrong username, password or code."}
COOKIE = "porchlight_session"

Browser = TestClient[Any, Any]
OpenBrowser = Callable[[web.Application], Awaitable[Browser]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: Settings, make_app: MakeApp, clock: FakeClock) -> web.Application:
    return make_app(settings, clock=clock)


@pytest.fixture
def open_browser(aiohttp_client: Any) -> OpenBrowser:
    """Serve an app to a client whose cookie jar treats it as https, as a browser would."""

    async def open_(app: web.Application) -> Browser:
        server = TestServer(app)
        await server.start_server()
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[server.make_url("/")])
        browser: Browser = await aiohttp_client(server, cookie_jar=jar)
        return browser

    return open_


@pytest.fixture
async def browser(app: web.Application, open_browser: OpenBrowser) -> Browser:
    return await open_browser(app)


async def account(app: web.Application, name: str = "ana", role: str = "advocate") -> Account:
    return await app[SERVICES].users.add_user(username=name, role=role, password=PASSWORD)


async def enrol(app: web.Application, user: Account) -> pyotp.TOTP:
    secret = pyotp.random_base32()
    await app[SERVICES].users.set_totp_secret(user.id, secret)
    return pyotp.TOTP(secret)


async def sign_in(browser: Browser, name: str = "ana", **body: Any) -> aiohttp.ClientResponse:
    return await browser.post("/api/v1/session", json={"username": name, **body})


async def signed_in(browser: Browser, name: str = "ana", **body: Any) -> dict[str, str]:
    """Sign in and return the CSRF header the session needs."""
    response = await sign_in(browser, name, password=PASSWORD, **body)
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["csrf_token"]}


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str]:
    body = await response.json()
    assert set(body) == {"error", "message"}, "every API error has the same shape"
    return response.status, body["error"]


# -- two-factor -------------------------------------------------------------------------


async def test_an_admin_who_must_enrol_can_only_see_themselves_enrol_or_sign_out(
    app: web.Application, browser: Browser
) -> None:
    await account(app, "root", role="admin")
    csrf = await signed_in(browser, "root")
    assert (await browser.get("/api/v1/me")).status == 200
    blocked = await browser.put("/api/v1/me/availability", json={"available": True}, headers=csrf)
    assert await error_of(blocked) == (403, "totp_enrolment_required")
    assert (await browser.delete("/api/v1/session", headers=csrf)).status == 204
    assert (await browser.get("/api/v1/me")).status == 401


async def test_advocates_must_enrol_too_when_the_setting_says_so(
    data_dir: Path, make_app: MakeApp, open_browser: OpenBrowser
) -> None:
    settings = make_settings(data_dir, totp_required_roles=("admin", "advocate"))
    app = make_app(settings)
    browser = await open_browser(app)
    await account(app)
    response = await sign_in(browser, password=PASSWORD)
    assert (await response.json())["user"]["totp_enrolment_required"] is True
    assert await error_of(await browser.get("/api/v1/handoffs")) == (
        403,
        "totp_enrolment_required",
    )


async def test_wrong_codes_count_towards_the_lockout(
    app: web.Application, browser: Browser, clock: FakeClock
) -> None:
    codes = await enrol(app, await account(app))
    for guess in range(5):
        response = await sign_in(browser, password=PASSWORD, totp=f"{guess:06d}")
        assert (response.status, await response.json()) == (401, WRONG)
    locked = await sign_in(browser, password=PASSWORD, totp=codes.at(clock.now))
    assert await error_of(locked) == (429, "locked"), "guessing codes is stopped like passwords"


async def test_replacing_two_factor_needs_a_current_code(
    app: web.Application, browser: Browser, clock: FakeClock
) -> None:
    user = await account(app)
    old = await enrol(app, user)
    csrf = await signed_in(browser, totp=old.at(clock.now))

    assert await error_of(await browser.post("/api/v1/me/totp", headers=csrf)) == (
        409,
        "already_enrolled",
    )
    wrong = await browser.post("/api/v1/me/totp", json={"code": "000000"}, headers=csrf)
    assert await error_of(wrong) == (400, "wrong_code")
    replayed = await browser.post("/api/v1/me/totp", json={"code": old.at(clock.now)}, headers=csrf)
    assert await error_of(replayed) == (400, "wrong_code"), "the sign-in code cannot be reused"

    clock.advance(seconds=30)
    started = await browser.post("/api/v1/me/totp", json={"code": old.at(clock.now)}, headers=csrf)
    assert started.status == 200
    new = pyotp.TOTP((await started.json())["secret"])
    clock.advance(seconds=30)
    confirmed = await browser.post(
        "/api/v1/me/totp/confirm", json={"code": new.at(clock.now)}, headers=csrf
    )
    assert confirmed.status == 200
    [entry] = await app[SERVICES].audit.entries(action="totp_enrolled")
    assert entry.detail == "replaced the previous secret"

    clock.advance(seconds=30)
    response = await sign_in(browser, password=PASSWORD, totp=old.at(clock.now))
    assert (response.status, await response.json()) == (401, WRONG), "the old app no longer works"
    assert (await sign_in(browser, password=PASSWORD, totp=new.at(clock.now))).status == 200


async def test_wrong_codes_when_replacing_two_factor_lock_the_account(
    app: web.Application, browser: Browser, clock: FakeClock
) -> None:
    codes = await enrol(app, await account(app))
    csrf = await signed_in(browser, totp=codes.at(clock.now))
    for guess in range(5):
        await browser.post("/api/v1/me/totp", json={"code": f"{guess:06d}"}, headers=csrf)
    clock.advance(seconds=30)
    locked = await browser.post("/api/v1/me/totp", json={"code": codes.at(clock.now)}, headers=csrf)
    assert await error_of(locked) == (429, "locked")
    assert "Retry-After" in locked.headers


async def test_confirming_needs_a_started_enrolment_and_a_code(
    app: web.Application, browser: Browser
) -> None:
    await account(app, "root", role="admin")
    csrf = await signed_in(browser, "root")
    early = await browser.post("/api/v1/me/totp/confirm", json={"code": "123456"}, headers=csrf)
    assert await error_of(early) == (409, "no_enrolment")
    assert (await browser.post("/api/v1/me/totp", headers=csrf)).status == 200
    for body in ({}, {"code": 123456}, {"code": "1" * 2000}):
        response = await browser.post("/api/v1/me/totp/confirm", json=body, headers=csrf)
        assert await error_of(response) == (400, "invalid")


# -- accounts and sessions --------------------------------------------------------------


async def test_a_disabled_account_is_signed_out_and_cannot_sign_in(
    app: web.Application, browser: Browser
) -> None:
    user = await account(app)
    await signed_in(browser)
    await app[SERVICES].users.set_disabled(user.id, True)
    assert await error_of(await browser.get("/api/v1/me")) == (401, "not_signed_in")
    response = await sign_in(browser, password=PASSWORD)
    assert (response.status, await response.json()) == (401, WRONG)


async def test_a_signed_out_token_is_dead_on_the_server_not_just_forgotten(
    app: web.Application, browser: Browser
) -> None:
    await account(app)
    response = await sign_in(browser, password=PASSWORD)
    token = response.cookies[COOKIE].value
    csrf = {"X-CSRF-Token": (await response.json())["csrf_token"]}
    signed_out = await browser.delete("/api/v1/session", headers=csrf)
    assert signed_out.status == 204
    assert signed_out.cookies[COOKIE].value == ""
    assert not [c for c in browser.session.cookie_jar if c.key == COOKIE]
    replay = await browser.get("/api/v1/me", cookies={COOKIE: token})
    assert replay.status == 401


async def test_signing_in_on_the_same_browser_ends_the_previous_session(
    app: web.Application, browser: Browser
) -> None:
    await account(app, "ana")
    await account(app, "bob")
    first = await sign_in(browser, "ana", password=PASSWORD)
    ana_token = first.cookies[COOKIE].value
    await signed_in(browser, "bob")
    me = await (await browser.get("/api/v1/me")).json()
    assert me["username"] == "bob"
    assert (await browser.get("/api/v1/me", cookies={COOKIE: ana_token})).status == 401


async def test_sign_out_needs_the_csrf_token(app: web.Application, browser: Browser) -> None:
    await account(app)
    await signed_in(browser)
    assert await error_of(await browser.delete("/api/v1/session")) == (403, "csrf")
    assert (await browser.get("/api/v1/me")).status == 200, "still signed in"


async def test_changes_without_a_session_are_refused(browser: Browser) -> None:
    response = await browser.put("/api/v1/me/availability", json={"available": True})
    assert await error_of(response) == (401, "not_signed_in")
    assert await error_of(await browser.get("/api/v1/me")) == (401, "not_signed_in")


# -- guessing, audit, malformed bodies --------------------------------------------------


async def test_a_burst_of_parallel_guesses_gets_five_tries_only(
    app: web.Application, browser: Browser
) -> None:
    await account(app)
    responses = await asyncio.gather(
        *(sign_in(browser, password=f"guess number {n}") for n in range(20))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [401] * 5 + [429] * 15
    assert len(await app[SERVICES].audit.entries(action="login_failed")) == 5


async def test_failed_sign_ins_are_audited_against_the_account_never_the_password(
    app: web.Application, browser: Browser
) -> None:
    user = await account(app)
    for n in range(5):
        await sign_in(browser, password=f"canary-guess-{n}")
    await sign_in(browser, "nobody", password="canary-guess-x")
    entries = await app[SERVICES].audit.entries(action="login_failed")
    assert sorted((e.target or "", e.detail or "") for e in entries) == [
        ("", ""),
        *[(user.id, "")] * 4,
        (user.id, "locked for 1 minute(s)"),
    ]
    everything = await app[SERVICES].audit.entries()
    assert not [e for e in everything if "canary" in f"{e.actor}{e.target}{e.detail}"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("username=ana&password=x", "application/x-www-form-urlencoded"),
        ("not json", "application/json"),
        ('["ana", "x"]', "application/json"),
        ('{"username": "' + "a" * 1025 + '", "password": "x"}', "application/json"),
        ('{"username": "ana", "password": "x", "totp": "' + "1" * 1025 + '"}', "application/json"),
        ('{"username": null, "password": "x"}', "application/json"),
    ],
)
async def test_malformed_sign_in_bodies_get_a_clear_400(
    app: web.Application, browser: Browser, data: str, content_type: str
) -> None:
    await account(app)
    response = await browser.post(
        "/api/v1/session", data=data, headers={"Content-Type": content_type}
    )
    status, error = await error_of(response)
    assert (status, error) == (400, "invalid")
    assert COOKIE not in response.cookies


async def test_nothing_secret_reaches_the_logs(
    app: web.Application, browser: Browser, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    codes = await enrol(app, await account(app))
    code = codes.at(clock.now)
    await sign_in(browser, password="canary-wrong-password")
    response = await sign_in(browser, password=PASSWORD, totp=code)
    token = response.cookies[COOKIE].value
    csrf = (await response.json())["csrf_token"]
    await browser.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "signed in" in logged, "the test must see the auth log lines to mean anything"
    for secret in ("canary-wrong-password", PASSWORD, code, token, csrf):
        assert secret not in logged


# -- other sites ------------------------------------------------------------------------


async def test_the_events_websocket_refuses_other_sites(
    app: web.Application, browser: Browser
) -> None:
    await account(app)
    await signed_in(browser)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await browser.ws_connect("/api/v1/events", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own_origin = str(browser.make_url("/")).rstrip("/")
    async with browser.ws_connect("/api/v1/events", headers={"Origin": own_origin}) as socket:
        assert (await socket.receive_json())["type"] == "hello"


async def test_behind_a_tls_proxy_the_public_address_is_this_site(
    data_dir: Path, make_app: MakeApp, open_browser: OpenBrowser
) -> None:
    app = make_app(make_settings(data_dir, public_url="https://chat.example.org"))
    browser = await open_browser(app)
    await account(app)
    csrf = await signed_in(browser)
    # What the proxy passes on: the public host name, over plain http on loopback.
    proxied = {**csrf, "Host": "chat.example.org"}
    ok = await browser.put(
        "/api/v1/me/availability",
        json={"available": True},
        headers={**proxied, "Origin": "https://chat.example.org"},
    )
    assert ok.status == 200
    for other in ("https://evil.example", "https://chat.example.org.evil.example", "null"):
        refused = await browser.put(
            "/api/v1/me/availability",
            json={"available": True},
            headers={**proxied, "Origin": other},
        )
        assert await error_of(refused) == (403, "cross_origin")
