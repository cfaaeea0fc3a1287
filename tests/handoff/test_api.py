"""The advocates' JSON API over HTTP: each rule of issue #5 as an advocate would meet it.

Each signed-in person gets their own HTTP client (own cookies, own CSRF token) on the same
server; the contact writes through the real web-chat websocket.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from config import Settings
from porchlight.state import SERVICES
from tests.factories import make_settings
from tests.handoff.conftest import SignIn
from tests.handoff.test_webchat_handoff import WS, ask_for_a_person, frames_until
from tests.waiting import eventually


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # Two-factor has its own tests (test_auth.py); here admins sign in with a password only.
    return make_settings(data_dir, totp_required_roles=())


async def waiting_handoff(client: TestClient[Any, Any], app: web.Application) -> tuple[Any, str]:
    """A person in the queue through the web chat; returns their socket and handoff id."""
    socket = await client.ws_connect(WS)
    await ask_for_a_person(socket)
    (handoff,) = await app[SERVICES].handoffs.queue()
    return socket, handoff.id


async def test_the_queue_lists_aliases_never_addresses(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    socket, handoff_id = await waiting_handoff(client, app)
    status, handoffs = await ana.call("GET", "/handoffs")
    assert status == 200
    (listed,) = handoffs
    assert listed["id"] == handoff_id
    assert listed["status"] == "waiting"
    assert listed["priority"] == "normal"
    assert listed["channel"] == "webchat"
    assert listed["alias"].startswith("Contact ")
    assert listed["position"] == 1
    conversation = await app[SERVICES].conversations.get(
        (await app[SERVICES].handoffs.get(handoff_id)).conversation_id or ""
    )
    assert conversation.reply_address is not None
    status, detail = await ana.call("GET", f"/handoffs/{handoff_id}")
    assert conversation.reply_address not in str(handoffs) + str(detail)
    assert conversation.pseudonym not in str(handoffs) + str(detail)
    assert detail["summary"]["answers"]["menu"] == "talk"
    await socket.close()


async def test_two_advocates_claiming_at_once_one_gets_409(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana, ben = await sign_in("ana"), await sign_in("ben")
    socket, handoff_id = await waiting_handoff(client, app)
    results = await asyncio.gather(
        ana.call("POST", f"/handoffs/{handoff_id}/claim"),
        ben.call("POST", f"/handoffs/{handoff_id}/claim"),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    loser = next(body for status, body in results if status == 409)
    assert loser == {"error": "already_claimed", "message": "Someone else has just taken it."}
    await socket.close()


async def test_taking_the_next_conversation(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    socket, handoff_id = await waiting_handoff(client, app)
    status, taken = await ana.call("POST", "/handoffs/next/claim")
    assert (status, taken["id"], taken["mine"]) == (200, handoff_id, True)
    status, body = await ana.call("POST", "/handoffs/next/claim")
    assert (status, body["error"]) == (404, "queue_empty")
    await socket.close()


async def test_a_full_conversation_through_the_api(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    socket, handoff_id = await waiting_handoff(client, app)
    assert (await ana.call("POST", f"/handoffs/{handoff_id}/claim"))[0] == 200
    await frames_until(socket, "advocate_joined")

    status, _ = await ana.call("POST", f"/handoffs/{handoff_id}/messages", {"text": "Hello"})
    assert status == 201
    assert (await socket.receive_json(timeout=5))["text"] == "Hello"

    await socket.send_json({"type": "message", "text": "hi, I need advice"})

    async def last_message() -> str:
        _, body = await ana.call("GET", f"/handoffs/{handoff_id}/messages")
        return str(body["messages"][-1]["text"])

    await eventually(last_message, "hi, I need advice")
    status, since = await ana.call("GET", f"/handoffs/{handoff_id}/messages?after=1000")
    assert since == {"status": "claimed", "messages": []}

    status, note = await ana.call("POST", f"/handoffs/{handoff_id}/notes", {"text": "calm"})
    assert status == 201
    assert note["author"] == "ana"

    status, closed = await ana.call(
        "POST", f"/handoffs/{handoff_id}/close", {"outcome": "information"}
    )
    assert status == 200
    assert closed["status"] == "closed"
    await frames_until(socket, "closed")
    status, body = await ana.call("POST", f"/handoffs/{handoff_id}/messages", {"text": "x"})
    assert (status, body["error"]) == (410, "contact_left")
    await socket.close()


async def test_exit_mid_chat_ends_the_handoff_and_sending_is_refused(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    socket, handoff_id = await waiting_handoff(client, app)
    await ana.call("POST", f"/handoffs/{handoff_id}/claim")
    await socket.send_json({"type": "exit"})
    await socket.close()

    async def status_of() -> str:
        _, body = await ana.call("GET", f"/handoffs/{handoff_id}")
        return str(body["status"])

    await eventually(status_of, "left")
    status, body = await ana.call("POST", f"/handoffs/{handoff_id}/messages", {"text": "hi?"})
    assert status == 410
    assert body["error"] == "contact_left"
    _, listed = await ana.call("GET", "/handoffs")
    assert [(h["id"], h["status"]) for h in listed] == [(handoff_id, "left")]


async def test_an_advocate_cannot_read_or_write_a_conversation_someone_else_holds(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana, ben = await sign_in("ana"), await sign_in("ben")
    root = await sign_in("root", role="admin", available=False)
    socket, handoff_id = await waiting_handoff(client, app)
    await ana.call("POST", f"/handoffs/{handoff_id}/claim")
    for method, path, body in (
        ("GET", f"/handoffs/{handoff_id}", None),
        ("GET", f"/handoffs/{handoff_id}/messages", None),
        ("GET", f"/handoffs/{handoff_id}/notes", None),
        ("POST", f"/handoffs/{handoff_id}/messages", {"text": "hi"}),
        ("POST", f"/handoffs/{handoff_id}/close", {"outcome": "other"}),
    ):
        status, answer = await ben.call(method, path, body)
        assert status == 403, (method, path)
        assert answer["error"] in ("not_allowed", "not_yours")
    # An admin may read it (and that read is audited) but not write in ana's name.
    assert (await root.call("GET", f"/handoffs/{handoff_id}/messages"))[0] == 200
    assert (await root.call("POST", f"/handoffs/{handoff_id}/messages", {"text": "x"}))[0] == 403
    views = await app[SERVICES].audit.entries(action="transcript_viewed")
    assert [v.actor for v in views] == ["root"]
    await socket.close()


async def test_admins_manage_canned_responses_and_advocates_only_read_them(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    root = await sign_in("root", role="admin", available=False)
    status, shipped = await ana.call("GET", "/canned-responses?language=es")
    assert status == 200
    assert shipped
    assert {c["language"] for c in shipped} == {"es"}
    new = {"language": "en", "title": "Breathing", "text": "Take a slow breath with me."}
    assert (await ana.call("POST", "/canned-responses", new))[0] == 403
    status, added = await root.call("POST", "/canned-responses", new)
    assert status == 201
    status, problem = await root.call("POST", "/canned-responses", {**new, "text": ""})
    assert (status, problem["error"]) == (400, "invalid")
    assert (await root.call("DELETE", f"/canned-responses/{added['id']}"))[0] == 204
    assert (await root.call("DELETE", f"/canned-responses/{added['id']}"))[0] == 404
    actions = [e.action for e in await app[SERVICES].audit.entries()]
    assert "canned_added" in actions
    assert "canned_removed" in actions


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "the body must be a JSON object"),
        ([1, 2], "the body must be a JSON object"),
        ({"text": 5}, "'text' must be a string"),
        ({"text": "   "}, "the message is empty"),
        ({"text": "x" * 2001}, "the message is longer than 2000 characters"),
    ],
)
async def test_bad_messages_get_clear_errors_and_nothing_is_sent(
    client: TestClient[Any, Any],
    app: web.Application,
    sign_in: SignIn,
    body: Any,
    message: str,
) -> None:
    ana = await sign_in("ana")
    socket, handoff_id = await waiting_handoff(client, app)
    await ana.call("POST", f"/handoffs/{handoff_id}/claim")
    await frames_until(socket, "advocate_joined")
    if isinstance(body, str):
        response = await ana.http.post(
            f"/api/v1/handoffs/{handoff_id}/messages",
            data=body,
            headers={"X-CSRF-Token": ana.csrf, "Content-Type": "application/json"},
        )
        status, answer = response.status, await response.json()
    else:
        status, answer = await ana.call("POST", f"/handoffs/{handoff_id}/messages", body)
    assert status == 400
    assert answer["message"] == message
    _, transcript = await ana.call("GET", f"/handoffs/{handoff_id}/messages")
    assert not [m for m in transcript["messages"] if m["from"] == "advocate"]
    await socket.close()


async def test_availability_must_be_a_boolean(sign_in: SignIn) -> None:
    ana = await sign_in("ana", available=False)
    status, body = await ana.call("PUT", "/me/availability", {"available": "yes"})
    assert (status, body["error"]) == (400, "invalid")
    _, everyone = await ana.call("GET", "/advocates")
    assert [p["available"] for p in everyone if p["username"] == "ana"] == [False]


async def test_the_events_socket_tells_an_advocate_about_the_queue_without_content(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    async with ana.http.ws_connect("/api/v1/events") as events:
        assert (await events.receive_json(timeout=5))["type"] == "hello"
        socket, _ = await waiting_handoff(client, app)
        event = await events.receive_json(timeout=5)
        while event["type"] != "queue":
            event = await events.receive_json(timeout=5)
        assert event == {"type": "queue", "waiting": 1, "text": "1 conversation waiting"}
        await socket.close()


async def test_the_api_refuses_anyone_not_signed_in(client: TestClient[Any, Any]) -> None:
    for method, path in (
        ("GET", "/api/v1/handoffs"),
        ("POST", "/api/v1/handoffs/x/claim"),
        ("GET", "/api/v1/events"),
    ):
        response = await client.request(method, path)
        assert response.status in (401, 403), path


async def test_the_rota_is_read_by_everyone_and_edited_only_by_admins(
    app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    root = await sign_in("root", role="admin", available=False)
    every_day = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)]
    assert (await ana.call("PUT", f"/rota/{ana.account.id}", {"shifts": every_day}))[0] == 403
    status, _ = await root.call("PUT", f"/rota/{ana.account.id}", {"shifts": every_day})
    assert status == 200
    status, rota = await ana.call("GET", "/rota")
    assert status == 200
    assert rota["timezone"] == "UTC"
    assert rota["expected_now"] == ["ana"]
    assert rota["available_now"] == ["ana"]
    assert len(rota["shifts"]) == 7

    bad = [{"weekday": 9, "start": "08:00", "end": "12:00"}]
    status, problem = await root.call("PUT", f"/rota/{ana.account.id}", {"shifts": bad})
    assert (status, problem["error"]) == (400, "invalid")
    assert len((await ana.call("GET", "/rota"))[1]["shifts"]) == 7, "nothing half-saved"

    now = datetime.now(UTC)
    off = {
        "user_id": ana.account.id,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "on_call": False,
    }
    assert (await root.call("POST", "/rota/overrides", {**off, "ends_at": "soon"}))[0] == 400
    status, override = await root.call("POST", "/rota/overrides", off)
    assert status == 201
    assert (await ana.call("GET", "/rota"))[1]["expected_now"] == []
    assert (await root.call("DELETE", f"/rota/overrides/{override['id']}"))[0] == 204
    actions = {e.action for e in await app[SERVICES].audit.entries()}
    assert {"rota_changed", "rota_override_added", "rota_override_removed"} <= actions


async def test_admins_create_accounts_and_advocates_cannot(
    app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    root = await sign_in("root", role="admin", available=False)
    new = {"username": "sam", "role": "advocate", "password": "a long enough pass"}
    assert (await ana.call("POST", "/users", new))[0] == 403
    assert (await ana.call("GET", "/users"))[0] == 403
    status, created = await root.call("POST", "/users", new)
    assert (status, created["username"], created["role"]) == (201, "sam", "advocate")
    assert (await root.call("POST", "/users", new))[0] == 409
    status, problem = await root.call(
        "POST", "/users", {**new, "username": "x", "password": "short"}
    )
    assert (status, problem["error"]) == (400, "invalid")
    _, everyone = await root.call("GET", "/users")
    assert [u["username"] for u in everyone] == ["ana", "root", "sam"]
    assert "password" not in str(everyone)
    assert await app[SERVICES].users.authenticate("sam", "a long enough pass") is not None
    created_entries = await app[SERVICES].audit.entries(action="user_created")
    assert [(e.actor, e.target) for e in created_entries] == [("root", created["id"])]


async def test_admins_read_and_filter_the_audit_log(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    ana = await sign_in("ana")
    root = await sign_in("root", role="admin", available=False)
    socket, handoff_id = await waiting_handoff(client, app)
    await ana.call("POST", f"/handoffs/{handoff_id}/claim")
    await ana.call("GET", f"/handoffs/{handoff_id}/messages")
    assert (await ana.call("GET", "/audit"))[0] == 403
    status, views = await root.call("GET", "/audit?action=transcript_viewed")
    assert status == 200
    assert [(e["actor"], e["target"]) for e in views] == [("ana", handoff_id)]
    _, by_ana = await root.call("GET", f"/audit?actor={ana.account.id}")
    assert {e["action"] for e in by_ana} >= {"login", "handoff_claimed", "transcript_viewed"}
    assert (await root.call("GET", "/audit?limit=0"))[0] == 400
    await socket.close()
