from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from config import Settings
from porchlight.state import SERVICES
from tests.clock import FakeClock
from tests.conftest import MakeApp
from tests.factories import make_settings
from tests.waiting import eventually

WS = "/channels/webchat/ws"


async def receive_until_options(socket: Any) -> list[dict[str, Any]]:
    """Collect frames until one offers options or ends the chat."""
    frames = []
    while True:
        frame = await socket.receive_json(timeout=5)
        frames.append(frame)
        if frame["type"] == "closed" or frame.get("options") or frame["type"] == "error":
            return frames


async def test_a_conversation_runs_through_the_websocket(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        opening = await receive_until_options(socket)
        assert all(f["type"] == "message" for f in opening)
        assert any("EXIT" in f["text"] for f in opening)
        assert [o["value"] for o in opening[-1]["options"]] == ["safe", "not_safe", "danger"]

        await socket.send_json({"type": "choice", "value": "safe"})
        menu = await receive_until_options(socket)
        assert menu[-1]["text"] == "How can we help today?"

        await socket.send_json({"type": "message", "text": "4"})  # numbered answers work too
        worried = await receive_until_options(socket)
        assert "looking out for someone" in worried[0]["text"]

    store = app[SERVICES].conversations
    # A closed page can never be resumed (the browser keeps nothing): nothing is kept either.
    await eventually(store.count, 0)


async def test_the_exit_frame_wipes_the_conversation_and_closes(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "message", "text": "1"})
        await receive_until_options(socket)
        assert await app[SERVICES].conversations.count() == 1

        await socket.send_json({"type": "exit"})
        assert await socket.receive_json(timeout=5) == {"type": "exit"}
        closing = await socket.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)

    await eventually(app[SERVICES].conversations.count, 0)


async def test_exit_completes_even_when_the_page_leaves_at_once(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    """The page sends exit and navigates away without waiting: the wipe must still finish."""
    for _ in range(5):
        socket = await client.ws_connect(WS)
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "exit"})
        # Drop the TCP connection without a closing handshake, as a navigating page does.
        socket._response.connection.transport.abort()  # type: ignore[union-attr]

    await eventually(app[SERVICES].conversations.count, 0)


@pytest.mark.parametrize("word", ["exit", "DELETE", "stop", "borrar"])
async def test_a_wiping_keyword_wipes_and_tells_the_page_to_leave(
    client: TestClient[Any, Any], app: web.Application, word: str
) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "message", "text": word})
        assert await socket.receive_json(timeout=5) == {"type": "exit"}
        closing = await socket.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    await eventually(app[SERVICES].conversations.count, 0)


async def test_leaving_through_the_script_sends_closed(client: TestClient[Any, Any]) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await socket.send_json({"type": "choice", "value": "not_safe"})
        await receive_until_options(socket)
        await socket.send_json({"type": "choice", "value": "leave"})
        frames = await receive_until_options(socket)
        assert frames[-1] == {"type": "closed"}


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "JSON objects"),
        ('{"type": "shout"}', "type must be one of"),
        ('{"type": "message"}', "non-empty 'text'"),
        ('{"type": "message", "text": "   "}', "non-empty 'text'"),
        ('{"type": "choice", "value": 7}', "non-empty 'value'"),
        ('{"type": "message", "text": "' + "x" * 4001 + '"}', "at most 4000"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_change_nothing(
    client: TestClient[Any, Any], app: web.Application, frame: str, problem: str
) -> None:
    async with client.ws_connect(WS) as socket:
        await socket.send_str(frame)
        error = await socket.receive_json(timeout=5)
        assert error["type"] == "error"
        assert problem in error["text"]
        assert await app[SERVICES].conversations.count() == 0  # the bad frame stored nothing
        # The socket stays usable after a bad frame. Counted while it is open: closing the
        # page wipes the conversation.
        await socket.send_json({"type": "start"})
        assert (await receive_until_options(socket))[-1]["options"]
        assert await app[SERVICES].conversations.count() == 1


UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def test_other_sites_cannot_open_a_chat(client: TestClient[Any, Any]) -> None:
    response = await client.get(WS, headers={"Origin": "https://evil.example", **UPGRADE})
    assert response.status == 403


async def test_behind_a_tls_proxy_the_public_address_may_open_a_chat(
    aiohttp_client: Any, make_app: MakeApp, data_dir: Path
) -> None:
    # The proxy speaks plain http to the service; the browser says https://chat.example.org.
    app = make_app(make_settings(data_dir, public_url="https://chat.example.org"))
    client = await aiohttp_client(app)
    async with client.ws_connect(WS, origin="https://chat.example.org") as socket:
        await socket.send_json({"type": "start"})
        assert (await receive_until_options(socket))[-1]["options"]
    for other in ("http://chat.example.org", "https://chat.example.org.evil.example"):
        refused = await client.get(WS, headers={"Origin": other, **UPGRADE})
        assert refused.status == 403, other


async def test_the_chat_page_is_neutral_and_locked_down(client: TestClient[Any, Any]) -> None:
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    for word in ("abuse", "violence", "shelter", "porchlight"):
        assert word not in html.lower()
    assert "data-exit-url" in html
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


async def test_errors_and_static_files_carry_the_same_headers(client: TestClient[Any, Any]) -> None:
    for path in ("/no-such-page", "/static/webchat/chat.js"):
        response = await client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        assert "Content-Security-Policy" in response.headers, path


async def test_an_unanswered_question_gets_a_plain_check_in_on_the_open_page(
    aiohttp_client: Any, settings: Settings, make_app: MakeApp
) -> None:
    clock = FakeClock()
    app = make_app(settings, timer_interval=0.05, clock=clock)
    client = await aiohttp_client(app)
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        clock.advance(minutes=30)
        check_in = await receive_until_options(socket)
        assert check_in[0]["text"] == "Reply any time."

        clock.advance(minutes=20)  # still nothing: the chat ends without another word
        assert await socket.receive_json(timeout=5) == {"type": "closed"}


async def test_health(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
