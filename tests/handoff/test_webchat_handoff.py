"""A web-chat person and an advocate, through the real websocket and the handoff service.

The advocate's side is driven through the service (the HTTP API has its own tests); what
matters here is what the person's page receives: an honest place in line, "someone is
here", the advocate's words, and the end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from porchlight.state import EVENTS, SERVICES
from storage.handoffs import LEFT
from storage.users import Account
from tests.waiting import eventually

WS = "/channels/webchat/ws"


async def frames_until(socket: Any, wanted: str) -> list[dict[str, Any]]:
    """Collect frames up to and including the first whose type or state is ``wanted``."""
    frames = []
    while True:
        frame = await socket.receive_json(timeout=5)
        frames.append(frame)
        if wanted in (frame.get("type"), frame.get("state")) or (
            wanted == "options" and frame.get("options")
        ):
            return frames


async def on_call(app: web.Application, name: str) -> Account:
    services = app[SERVICES]
    account = await services.users.add_user(username=name, role="advocate", password="p" * 12)
    await services.presence.set_available(account.id, True)
    return account


async def ask_for_a_person(socket: Any) -> list[dict[str, Any]]:
    await socket.send_json({"type": "start"})
    await frames_until(socket, "options")
    await socket.send_json({"type": "choice", "value": "safe"})
    await frames_until(socket, "options")
    await socket.send_json({"type": "choice", "value": "talk"})
    return await frames_until(socket, "waiting")


async def test_a_waiting_person_sees_their_place_then_the_advocate_joins_and_writes(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    ana = await on_call(app, "ana")
    service = app[SERVICES].handoff_service
    async with client.ws_connect(WS) as socket:
        frames = await ask_for_a_person(socket)
        waiting = frames[-1]
        assert waiting["position"] == 1
        assert waiting["text"] == (
            f"You are number 1 in line. Expected wait: about {waiting['wait_minutes']} min."
        )
        (handoff,) = await app[SERVICES].handoffs.queue()

        await service.claim(handoff.id, ana)
        joined = await frames_until(socket, "advocate_joined")
        assert joined[-1]["text"] == "Someone is here to chat with you now."

        await service.send(handoff.id, ana, "Hi, I'm here. Are you somewhere safe?")
        message = await socket.receive_json(timeout=5)
        assert message == {
            "type": "message",
            "text": "Hi, I'm here. Are you somewhere safe?",
            "options": [],
            "from": "advocate",
        }

        with app[EVENTS].subscribe(ana.id, "advocate") as dashboard:
            await socket.send_json({"type": "message", "text": "yes, at a friend's"})
            event = await asyncio.wait_for(dashboard.events.get(), 5)
        assert event == {"type": "message", "handoff_id": handoff.id}  # no content in events
        transcript = await service.transcript(handoff.id, ana)
        assert transcript[-1].text == "yes, at a friend's"
        assert transcript[-1].sender == "person"

        await service.close(handoff.id, ana, "supported", None)
        ending = await frames_until(socket, "closed")
        assert {"type": "status", "state": "advocate_left", "text": (
            "This chat with our team has ended. Take care."
        )} in ending  # fmt: skip


async def test_a_second_person_moves_up_the_line_when_the_first_is_taken(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    ana = await on_call(app, "ana")
    async with client.ws_connect(WS) as first, client.ws_connect(WS) as second:
        await ask_for_a_person(first)
        frames = await ask_for_a_person(second)
        assert frames[-1]["position"] == 2
        queue = await app[SERVICES].handoffs.queue()
        await app[SERVICES].handoff_service.claim(queue[0].id, ana)
        update = await frames_until(second, "waiting")
        assert update[-1]["position"] == 1


async def test_closing_the_page_mid_chat_tells_the_advocate_the_contact_left(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    ana = await on_call(app, "ana")
    service = app[SERVICES].handoff_service
    async with client.ws_connect(WS) as socket:
        await ask_for_a_person(socket)
        (handoff,) = await app[SERVICES].handoffs.queue()
        await service.claim(handoff.id, ana)
        await socket.send_json({"type": "exit"})
        assert (await frames_until(socket, "exit"))[-1] == {"type": "exit"}

    async def status() -> str:
        return (await app[SERVICES].handoffs.get(handoff.id)).status

    await eventually(status, LEFT)
    assert await app[SERVICES].conversations.count() == 0
