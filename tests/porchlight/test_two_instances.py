"""Two instances of the service on one PostgreSQL, as behind a load balancer.

A person chats through instance A; an advocate works on instance B. Everything one side
does must reach the other: the arrival in the queue, the claim, messages both ways, the
person leaving. And the once-only workers run on exactly one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient

from porchlight.state import LEADERSHIP, SERVICES
from tests.conftest import MakeApp
from tests.factories import make_settings
from tests.handoff.test_webchat_handoff import WS, ask_for_a_person, frames_until
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"


@pytest.fixture
async def instances(
    tmp_path: Path, make_app: MakeApp, postgres_url: str, aiohttp_client: Any
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    """Instances A and B: own data directories, one database, the same master key.

    (The database is asked for first, so it is dropped only after both have stopped.)
    """
    clients = []
    for name in ("a", "b"):
        settings = make_settings(tmp_path / name, database_url=postgres_url, totp_required_roles=())
        app = make_app(settings, handoff_interval=0.1)
        clients.append(await aiohttp_client(app))
    return clients[0], clients[1]


async def signed_in(
    client: TestClient[Any, Any], username: str
) -> tuple[TestClient[Any, Any], str]:
    """A browser signed in to this instance: its own cookies, and the CSRF token."""
    jar = CookieJar(unsafe=True, treat_as_secure_origin=[client.make_url("/")])
    browser: TestClient[Any, Any] = TestClient(client.server, cookie_jar=jar)
    await browser.start_server()
    response = await browser.post(
        "/api/v1/session", json={"username": username, "password": PASSWORD}
    )
    assert response.status == 200, await response.text()
    return browser, (await response.json())["csrf_token"]


async def next_event(events: Any, wanted: str) -> dict[str, Any]:
    while True:
        event = await events.receive_json(timeout=10)
        if event.get("type") == wanted:
            return dict(event)


async def test_a_person_on_one_instance_and_an_advocate_on_the_other(
    instances: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = instances
    await b.app[SERVICES].users.add_user(username="ana", role="advocate", password=PASSWORD)
    advocate, csrf = await signed_in(b, "ana")
    headers = {"X-CSRF-Token": csrf}
    try:
        response = await advocate.put(
            "/api/v1/me/availability", json={"available": True}, headers=headers
        )
        assert response.status == 200
        async with advocate.ws_connect("/api/v1/events") as events:
            assert (await events.receive_json(timeout=5))["type"] == "hello"

            # The person arrives on A; the advocate's dashboard on B hears of it.
            person = await a.ws_connect(WS)
            await ask_for_a_person(person)
            queued = await next_event(events, "queue")
            assert queued["waiting"] == 1

            # Claimed on B: the page open on A is told someone joined.
            (handoff,) = await b.app[SERVICES].handoffs.queue()
            response = await advocate.post(f"/api/v1/handoffs/{handoff.id}/claim", headers=headers)
            assert response.status == 200, await response.text()
            joined = await frames_until(person, "advocate_joined")
            assert joined[-1]["text"] == "Someone is here to chat with you now."

            # The advocate writes on B; the person reads it on A.
            response = await advocate.post(
                f"/api/v1/handoffs/{handoff.id}/messages",
                json={"text": "Hello, I'm Ana. I'm here."},
                headers=headers,
            )
            assert response.status == 201, await response.text()
            said = await frames_until(person, "message")
            assert said[-1]["text"] == "Hello, I'm Ana. I'm here."

            # The person answers on A; B's dashboard is told, and B reads it.
            await person.send_json({"type": "message", "text": "thank you"})
            arrived = await next_event(events, "message")
            assert arrived["handoff_id"] == handoff.id
            response = await advocate.get(f"/api/v1/handoffs/{handoff.id}/messages")
            texts = [m["text"] for m in (await response.json())["messages"]]
            assert "thank you" in texts

            # The person leaves on A; B learns at once and can no longer write.
            await person.send_json({"type": "exit"})
            left = await next_event(events, "contact_left")
            assert left["handoff_id"] == handoff.id
            response = await advocate.post(
                f"/api/v1/handoffs/{handoff.id}/messages",
                json={"text": "are you there?"},
                headers=headers,
            )
            assert response.status == 410
            await person.close()
    finally:
        await advocate.close()


async def test_exactly_one_instance_runs_the_once_only_workers(
    instances: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = instances
    leaders = [client.app[LEADERSHIP].is_leader for client in (a, b)]
    assert sorted(leaders) == [False, True]

    # The leader goes away: the other takes over within a check.
    leader, follower = (a, b) if leaders[0] else (b, a)
    await leader.app[LEADERSHIP].close()

    async def follower_leads() -> bool:
        await follower.app[LEADERSHIP]._check()  # as its next periodic check would
        return follower.app[LEADERSHIP].is_leader

    await eventually(follower_leads, True)
