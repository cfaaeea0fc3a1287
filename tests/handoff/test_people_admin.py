"""Managing people over HTTP (issue #6): disable, enable, promote, demote, reset a password,
reset two-factor, each as an admin and an advocate would meet it.

Each signed-in person has their own HTTP client (own cookies, own CSRF token) on one server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from config import Settings
from porchlight.state import SERVICES
from storage.users import LastAdmin
from tests.clock import FakeClock
from tests.conftest import MakeApp
from tests.factories import make_settings
from tests.handoff.conftest import PASSWORD, SignIn
from tests.handoff.test_webchat_handoff import WS, ask_for_a_person

NEW_PASSWORD = "a brand new passphrase"
WRONG = {"error": "invalid_credentials", "message": "Wrong username, password or code."}

Browser = TestClient[Any, Any]
OpenBrowser = Callable[[], Awaitable[Browser]]


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # Two-factor reset has its own app below; here admins sign in with a password only.
    return make_settings(data_dir, totp_required_roles=())


@pytest.fixture
async def open_browser(client: Browser) -> AsyncIterator[OpenBrowser]:
    """A browser with no session yet, treating the test server as https like a real one."""
    opened: list[Browser] = []

    async def open_() -> Browser:
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[client.make_url("/")])
        browser: Browser = TestClient(client.server, cookie_jar=jar)
        await browser.start_server()
        opened.append(browser)
        return browser

    yield open_
    for browser in opened:
        await browser.close()


async def sign_in_again(
    open_browser: OpenBrowser, username: str, password: str
) -> aiohttp.ClientResponse:
    browser = await open_browser()
    return await browser.post("/api/v1/session", json={"username": username, "password": password})


# -- disabling and enabling -------------------------------------------------------------


async def test_a_disabled_advocate_is_signed_out_at_once_and_cannot_sign_in(
    app: web.Application, sign_in: SignIn, open_browser: OpenBrowser
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    assert await app[SERVICES].presence.is_available(ana.account.id)

    status, body = await root.call("PATCH", f"/users/{ana.account.id}", {"disabled": True})

    assert status == 200
    assert body["disabled"] is True
    assert body["available"] is False
    assert await ana.call("GET", "/handoffs") == (
        401,
        {"error": "not_signed_in", "message": "Please sign in."},
    )
    refused = await sign_in_again(open_browser, "ana", PASSWORD)
    assert (refused.status, await refused.json()) == (401, WRONG)
    [entry] = await app[SERVICES].audit.entries(action="user_disabled")
    assert (entry.actor, entry.target) == ("root", ana.account.id)


async def test_re_enabling_lets_them_sign_in_again_but_never_revives_the_old_session(
    app: web.Application, sign_in: SignIn, open_browser: OpenBrowser
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    await root.call("PATCH", f"/users/{ana.account.id}", {"disabled": True})

    status, body = await root.call("PATCH", f"/users/{ana.account.id}", {"disabled": False})

    assert status == 200
    assert body["disabled"] is False
    assert (await ana.call("GET", "/handoffs"))[0] == 401, "the old session was ended"
    assert (await sign_in_again(open_browser, "ana", PASSWORD)).status == 200
    assert not await app[SERVICES].presence.is_available(ana.account.id), (
        "back on call only when they switch themselves on"
    )
    [entry] = await app[SERVICES].audit.entries(action="user_enabled")
    assert entry.target == ana.account.id


async def test_disabling_an_advocate_returns_the_conversations_they_hold_to_the_queue(
    client: Browser, app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana, ben = await sign_in("ana"), await sign_in("ben")
    socket = await client.ws_connect(WS)
    await ask_for_a_person(socket)
    (waiting,) = await app[SERVICES].handoffs.queue()
    assert (await ana.call("POST", f"/handoffs/{waiting.id}/claim"))[0] == 200

    status, _ = await root.call("PATCH", f"/users/{ana.account.id}", {"disabled": True})

    assert status == 200
    released = await app[SERVICES].handoffs.get(waiting.id)
    assert (released.status, released.claimed_by) == ("waiting", None)
    assert await app[SERVICES].handoffs.held(ana.account.id) == []
    status, claimed = await ben.call("POST", f"/handoffs/{waiting.id}/claim")
    assert status == 200
    assert claimed["mine"] is True
    [entry] = await app[SERVICES].audit.entries(action="handoff_released")
    assert entry.target == waiting.id
    [disabled] = await app[SERVICES].audit.entries(action="user_disabled")
    assert disabled.detail == "1 conversation(s) returned to the queue"
    await socket.close()


async def test_promoting_and_demoting_takes_effect_at_the_next_request(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    assert (await ana.call("GET", "/users"))[0] == 403

    status, body = await root.call("PATCH", f"/users/{ana.account.id}", {"role": "admin"})
    assert (status, body["role"]) == (200, "admin")
    assert (await ana.call("GET", "/users"))[0] == 200

    status, body = await root.call("PATCH", f"/users/{ana.account.id}", {"role": "advocate"})
    assert (status, body["role"]) == (200, "advocate")
    assert (await ana.call("GET", "/users"))[0] == 403
    details = [e.detail for e in await app[SERVICES].audit.entries(action="user_role_changed")]
    assert details == ["admin to advocate", "advocate to admin"]


# -- what an admin may not do -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "", {"disabled": True}),
        ("PATCH", "", {"role": "advocate"}),
        ("POST", "/password", {"password": NEW_PASSWORD}),
        ("DELETE", "/totp", None),
    ],
)
async def test_an_admin_cannot_disable_demote_or_reset_themselves(
    app: web.Application,
    sign_in: SignIn,
    open_browser: OpenBrowser,
    method: str,
    path: str,
    body: Any,
) -> None:
    await sign_in("bea", role="admin", available=False)  # so root is not the last admin
    root = await sign_in("root", role="admin", available=False)

    status, error = await root.call(method, f"/users/{root.account.id}{path}", body)

    assert (status, error["error"]) == (409, "own_account")
    assert "your own" in error["message"]
    assert (await root.call("GET", "/users"))[0] == 200, "still signed in, still an admin"
    assert (await sign_in_again(open_browser, "root", PASSWORD)).status == 200


async def test_the_last_enabled_admin_can_never_be_disabled_or_demoted(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    bea = await sign_in("bea", role="admin", available=False)
    assert (await root.call("PATCH", f"/users/{bea.account.id}", {"disabled": True}))[0] == 200

    users = app[SERVICES].users
    with pytest.raises(LastAdmin):
        await users.disable(root.account.id)
    with pytest.raises(LastAdmin):
        await users.set_role(root.account.id, "advocate")
    assert (await root.call("GET", "/users"))[0] == 200


async def test_two_admins_disabling_each_other_at_once_leave_one_admin(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    bea = await sign_in("bea", role="admin", available=False)

    results = await asyncio.gather(
        root.call("PATCH", f"/users/{bea.account.id}", {"disabled": True}),
        bea.call("PATCH", f"/users/{root.account.id}", {"disabled": True}),
    )

    statuses = sorted(status for status, _ in results)
    assert statuses[0] == 200
    assert statuses[1] in (401, 409), results
    enabled = [a for a in await app[SERVICES].users.list_users() if not a.disabled]
    assert [a.role for a in enabled] == ["admin"]


async def test_demoting_the_other_admin_leaves_one_and_the_last_one_stays(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    bea = await sign_in("bea", role="admin", available=False)
    status, _ = await root.call("PATCH", f"/users/{bea.account.id}", {"role": "advocate"})
    assert status == 200
    # bea, an advocate now, can no longer touch root.
    assert (await bea.call("PATCH", f"/users/{root.account.id}", {"role": "advocate"}))[0] == 403
    assert (await app[SERVICES].users.get(root.account.id)).role == "admin"  # type: ignore[union-attr]


ADMIN_CALLS = [
    ("GET", "/users", None),
    ("POST", "/users", {"username": "eve", "role": "admin", "password": NEW_PASSWORD}),
    ("PATCH", "/users/{id}", {"disabled": True}),
    ("PATCH", "/users/{id}", {"role": "advocate"}),
    ("POST", "/users/{id}/password", {"password": NEW_PASSWORD}),
    ("DELETE", "/users/{id}/totp", None),
    ("GET", "/audit", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_an_advocate_cannot_call_any_of_it(
    app: web.Application,
    sign_in: SignIn,
    open_browser: OpenBrowser,
    method: str,
    path: str,
    body: Any,
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")

    status, error = await ana.call(method, path.format(id=root.account.id), body)

    assert (status, error["error"]) == (403, "forbidden")
    after = await app[SERVICES].users.get(root.account.id)
    assert after is not None
    assert (after.role, after.disabled) == ("admin", False)
    assert await app[SERVICES].users.get_by_username("eve") is None
    assert (await root.call("GET", "/users"))[0] == 200
    assert (await sign_in_again(open_browser, "root", PASSWORD)).status == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("PATCH", "/users/nobody", {"disabled": True}, 404, "not_found"),
        ("POST", "/users/nobody/password", {"password": NEW_PASSWORD}, 404, "not_found"),
        ("DELETE", "/users/nobody/totp", None, 404, "not_found"),
        ("PATCH", "/users/{id}", {}, 400, "invalid"),
        ("PATCH", "/users/{id}", {"disabled": "yes"}, 400, "invalid"),
        ("PATCH", "/users/{id}", {"role": "root"}, 400, "invalid"),
        ("PATCH", "/users/{id}", {"disabled": True, "password": NEW_PASSWORD}, 400, "invalid"),
        ("PATCH", "/users/{id}", ["disabled"], 400, "invalid"),
        ("POST", "/users/{id}/password", {"password": "too short"}, 400, "invalid"),
        ("POST", "/users/{id}/password", {"password": 123456789012}, 400, "invalid"),
        ("POST", "/users/{id}/password", {}, 400, "invalid"),
    ],
)
async def test_unknown_accounts_get_404_and_bad_bodies_a_clear_400(
    app: web.Application,
    sign_in: SignIn,
    open_browser: OpenBrowser,
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")

    answer = await root.call(method, path.format(id=ana.account.id), body)

    assert (answer[0], answer[1]["error"]) == (status, error)
    assert answer[1]["message"]
    assert (await ana.call("GET", "/handoffs"))[0] == 200, "nothing happened to ana"
    assert (await sign_in_again(open_browser, "ana", PASSWORD)).status == 200


# -- passwords --------------------------------------------------------------------------


async def test_a_password_reset_lets_them_in_with_the_new_password_only(
    app: web.Application, sign_in: SignIn, open_browser: OpenBrowser
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    for _ in range(5):  # ana forgot her password and locked herself out
        assert (await sign_in_again(open_browser, "ana", "not my password")).status == 401
    assert (await sign_in_again(open_browser, "ana", PASSWORD)).status == 429

    status, _ = await root.call(
        "POST", f"/users/{ana.account.id}/password", {"password": NEW_PASSWORD}
    )

    assert status == 204
    assert (await ana.call("GET", "/handoffs"))[0] == 401, "every session ended"
    assert (await sign_in_again(open_browser, "ana", PASSWORD)).status == 401
    assert (await sign_in_again(open_browser, "ana", NEW_PASSWORD)).status == 200


async def test_every_change_is_audited_and_no_entry_holds_a_password(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    ana_id = ana.account.id
    await root.call("POST", f"/users/{ana_id}/password", {"password": NEW_PASSWORD})
    await root.call("DELETE", f"/users/{ana_id}/totp")
    await root.call("PATCH", f"/users/{ana_id}", {"role": "admin"})
    await root.call("PATCH", f"/users/{ana_id}", {"role": "advocate", "disabled": True})
    await root.call("PATCH", f"/users/{ana_id}", {"disabled": False})

    status, entries = await root.call("GET", f"/audit?target={ana_id}&actor={root.account.id}")

    assert status == 200
    assert [e["action"] for e in reversed(entries)] == [
        "password_reset",
        "totp_reset",
        "user_role_changed",
        "user_role_changed",
        "user_disabled",
        "user_enabled",
    ]
    assert {e["actor"] for e in entries} == {"root"}
    everything = str(await app[SERVICES].audit.entries(limit=1000))
    assert NEW_PASSWORD not in everything
    assert PASSWORD not in everything


async def test_the_account_list_says_who_is_on_call_and_when_last_seen(
    app: web.Application, sign_in: SignIn
) -> None:
    root = await sign_in("root", role="admin", available=False)
    ana = await sign_in("ana")
    await sign_in("ben", available=False)

    status, accounts = await root.call("GET", "/users")

    assert status == 200
    by_name = {a["username"]: a for a in accounts}
    assert by_name["ana"]["available"] is True
    assert by_name["ana"]["last_seen_at"] is not None
    assert by_name["ben"]["available"] is False
    assert by_name["ben"]["last_seen_at"] is None
    await root.call("PATCH", f"/users/{ana.account.id}", {"disabled": True})
    by_name = {a["username"]: a for a in (await root.call("GET", "/users"))[1]}
    assert (by_name["ana"]["disabled"], by_name["ana"]["available"]) == (True, False)


# -- two-factor -------------------------------------------------------------------------


@pytest.fixture
async def two_factor_app(
    data_dir: Path, make_app: MakeApp, aiohttp_client: Any
) -> tuple[web.Application, TestServer, FakeClock]:
    """An app where admins must use two-factor, on a clock the test controls."""
    clock = FakeClock()
    app = make_app(make_settings(data_dir, totp_required_roles=("admin",)), clock=clock)
    server = TestServer(app)
    await server.start_server()
    await aiohttp_client(server)  # so the server is closed after the test
    return app, server, clock


async def test_a_two_factor_reset_signs_them_out_and_makes_them_enrol_again(
    two_factor_app: tuple[web.Application, TestServer, FakeClock], aiohttp_client: Any
) -> None:
    app, server, clock = two_factor_app
    users = app[SERVICES].users

    async def browser_signed_in_as(name: str, **body: Any) -> tuple[Browser, dict[str, Any]]:
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[server.make_url("/")])
        browser: Browser = await aiohttp_client(server, cookie_jar=jar)
        response = await browser.post(
            "/api/v1/session", json={"username": name, "password": PASSWORD, **body}
        )
        assert response.status == 200, await response.text()
        return browser, await response.json()

    codes = {}
    for name in ("root", "bea"):
        account = await users.add_user(username=name, role="admin", password=PASSWORD)
        secret = pyotp.random_base32()
        await users.set_totp_secret(account.id, secret)
        codes[name] = pyotp.TOTP(secret)
    bea_id = (await users.get_by_username("bea")).id  # type: ignore[union-attr]
    root, signed_in = await browser_signed_in_as("root", totp=codes["root"].at(clock.now))
    root_csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
    bea, _ = await browser_signed_in_as("bea", totp=codes["bea"].at(clock.now))
    assert (await bea.get("/api/v1/users")).status == 200

    reset = await root.delete(f"/api/v1/users/{bea_id}/totp", headers=root_csrf)

    assert reset.status == 204
    assert (await bea.get("/api/v1/users")).status == 401, "her session ended"
    again, signed_in = await browser_signed_in_as("bea")  # no code asked for any more
    assert signed_in["user"]["totp_enrolled"] is False
    assert signed_in["user"]["totp_enrolment_required"] is True
    blocked = await again.get("/api/v1/users")
    assert (blocked.status, (await blocked.json())["error"]) == (403, "totp_enrolment_required")
    started = await again.post("/api/v1/me/totp", headers={"X-CSRF-Token": signed_in["csrf_token"]})
    assert started.status == 200, "she can enrol again"
    [entry] = await app[SERVICES].audit.entries(action="totp_reset")
    assert (entry.actor, entry.target, entry.detail) == ("root", bea_id, None)
