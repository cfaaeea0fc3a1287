"""The web chat in a real browser: chat, quick exit, nothing left on the device, own origin only.

Each test runs the real app on a real loopback port, plus a second tiny app standing in for
the neutral quick-exit site, so nothing ever leaves the machine. Tests assert on structure
(a bot bubble, its option buttons), not on the script's wording, which belongs to the script.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    ViewportSize,
    WebSocket,
)
from yarl import URL

from porchlight.state import SERVICES, WEBCHAT
from tests.browser import launch_chromium, require_chromium
from tests.conftest import MakeApp
from tests.factories import make_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.browser, pytest.mark.privacy]

CANARY = "canary-7731 parrot"
# Ordinary text that is no keyword of the script: the bot answers it with some bubble.
PLAIN_TEXT = "hello there"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "images"
EXPECTED_CSP = {
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
}


@dataclass
class NeutralSite:
    """The quick-exit destination; ``delay`` makes it slow, like a bad mobile connection."""

    url: str
    delay: float = 0.0


@dataclass
class Chat:
    url: str
    neutral: NeutralSite
    app: web.Application
    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_url(self) -> str:
        return self.neutral.url

    @property
    def origin(self) -> str:
        return str(URL(self.url).origin())


@pytest.fixture
async def chat(
    aiohttp_server: Any,
    tmp_path: Path,
    make_app: MakeApp,
) -> AsyncIterator[Chat]:
    require_chromium()  # before starting servers that a skipped test would not use

    async def weather(_request: web.Request) -> web.Response:
        await asyncio.sleep(neutral.delay)
        return web.Response(
            text="<!doctype html><title>Weather</title><h1>Weather</h1><p>Sunny, 21°C</p>",
            content_type="text/html",
        )

    async def no_icon(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    neutral_app = web.Application()
    neutral_app.router.add_get("/weather", weather)
    neutral_app.router.add_get("/favicon.ico", no_icon)
    neutral_server = await aiohttp_server(neutral_app)
    neutral = NeutralSite(str(neutral_server.make_url("/weather")))

    settings = make_settings(tmp_path / "data", quick_exit_url=neutral.url)
    app = make_app(settings)
    server = await aiohttp_server(app)

    async with launch_chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        page = await context.new_page()
        chat = Chat(str(server.make_url("/")), neutral, app, context, page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":  # CSP violations and script errors land here
                chat.errors.append(message.text)

        def on_websocket(socket: WebSocket) -> None:
            chat.websockets.append(socket.url)
            socket.on("framesent", lambda payload: chat.frames_sent.append(str(payload)))

        def on_request(request: Request) -> None:
            chat.requests.append(request.url)

        context.on("request", on_request)
        context.on("console", on_console)
        context.on("weberror", lambda error: chat.errors.append(str(error.error)))
        page.on("websocket", on_websocket)
        yield chat
        await context.close()
    assert chat.errors == [], "the page logged errors (a CSP violation or a script error)"


async def open_chat(chat: Chat) -> None:
    """Load the page and wait for the greeting's option buttons."""
    await chat.page.goto(chat.url)
    await chat.page.locator(".options button").first.wait_for()


async def send_text(page: Page, text: str) -> None:
    """Type like a person (real key events) and press Enter."""
    await page.focus("#message")
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def conversations(chat: Chat) -> int:
    return await chat.app[SERVICES].conversations.count()


async def server_socket(chat: Chat) -> web.WebSocketResponse:
    """The server's end of the page's websocket, to send it frames the script rarely does."""
    await eventually(lambda: _socket_count(chat), 1)
    return chat.app[WEBCHAT].open_sockets[0]


async def _socket_count(chat: Chat) -> int:
    return len(chat.app[WEBCHAT].open_sockets)


async def assert_back_does_not_show_the_chat(chat: Chat) -> None:
    await chat.page.go_back()
    assert chat.page.url != chat.url, "exit replaces the chat's history entry"
    assert CANARY not in await chat.page.content()


OLDER_OPTIONS_ALL_DISABLED = """[...document.querySelectorAll('.options')].slice(0, -1)
    .every((group) => [...group.querySelectorAll('button')].every((b) => b.disabled))"""


# ---- Chatting ----------------------------------------------------------------------------


async def test_a_person_can_answer_with_buttons_and_with_text(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    assert await page.title() == "Chat"
    assert await page.locator(".bubble.bot").count() >= 1
    bots = page.locator(".bubble.bot")

    greeting_options = page.locator(".options").first.locator("button")
    first_option = greeting_options.first
    label = await first_option.inner_text()
    replies_before = await bots.count()
    await first_option.click()

    mine = page.locator(".bubble.me")
    await mine.first.wait_for()
    assert await mine.first.inner_text() == label, "the button's label is the person's bubble"
    for i in range(await greeting_options.count()):
        assert await greeting_options.nth(i).is_disabled(), "an answered question stays answered"
    assert "chosen" in (await first_option.get_attribute("class") or "")

    await bots.nth(replies_before).wait_for()  # the service answered the choice
    await page.wait_for_timeout(300)  # let the rest of that reply arrive before counting
    replies_before = await bots.count()
    await send_text(page, PLAIN_TEXT)
    await page.locator(".bubble.me", has_text=PLAIN_TEXT).wait_for()
    await bots.nth(replies_before).wait_for()  # and the text
    assert await page.input_value("#message") == ""
    assert await page.evaluate(OLDER_OPTIONS_ALL_DISABLED), "only the newest question is open"


async def test_status_error_and_closed_frames_and_a_fresh_start(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    socket = await server_socket(chat)

    await socket.send_json({"type": "status", "text": "Someone will be with you soon."})
    await page.locator(".system", has_text="Someone will be with you soon.").wait_for()
    await socket.send_json({"type": "error", "text": "That message was not understood."})
    await page.locator(".system", has_text="That message was not understood.").wait_for()
    markup = '<img src="x"><b>bold</b>'
    await socket.send_json({"type": "message", "text": markup, "options": []})
    await page.locator(".bubble.bot", has_text=markup).wait_for()
    assert await page.locator(".transcript img, .transcript b").count() == 0, "text, not HTML"

    await socket.send_json({"type": "closed"})
    await page.locator(".system", has_text="This chat has ended.").wait_for()
    assert await page.is_disabled("#message")
    assert await page.is_disabled("#send")
    assert await page.locator(".options button:not([disabled])").count() == 0

    sent_before_restart = len(chat.frames_sent)
    await page.get_by_role("button", name="Start again").click()
    await page.locator(".options button").first.wait_for()
    assert page.url == chat.url
    assert CANARY not in await page.content(), "a fresh start shows nothing of the old chat"
    resent = chat.frames_sent[sent_before_restart:]
    assert resent[0] == '{"type":"start"}'
    assert all(CANARY not in frame for frame in resent), "nothing is resent after a restart"


async def test_a_dropped_connection_says_so_and_offers_a_fresh_start(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    socket = await server_socket(chat)
    await socket.close()

    await page.locator(".system", has_text="Connection lost").wait_for()
    assert await page.is_disabled("#message")
    assert await page.locator(".options button:not([disabled])").count() == 0
    await page.get_by_role("button", name="Start again").click()
    await page.locator(".options button:not([disabled])").first.wait_for()
    assert await page.is_enabled("#message")


# ---- Quick exit --------------------------------------------------------------------------


async def test_the_exit_button_leaves_at_once_and_back_does_not_bring_the_chat_back(
    chat: Chat,
) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()

    loop = asyncio.get_running_loop()
    started = loop.time()
    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)
    assert loop.time() - started < 2.0, "quick exit must be quick"
    await eventually(lambda: conversations(chat), 0)  # wiped on the server too

    await assert_back_does_not_show_the_chat(chat)


EXIT_AND_WATCH = """async () => {
    const look = () => ({
        hidden: document.body.hidden, html: document.documentElement.innerHTML
    });
    document.getElementById("exit").click();
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
    const next_frame = look();
    await new Promise((done) => setTimeout(done, 500));
    return {next_frame, half_a_second_later: look(), href: location.href};
}"""


async def test_exit_hides_the_chat_before_a_slow_neutral_page_arrives(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()
    chat.neutral.delay = 2.0

    # Looked at from inside the page: once the navigation has started, Playwright answers
    # nothing about the old document until the new one commits, the very moment to look before.
    seen = await page.evaluate(EXIT_AND_WATCH)
    assert seen["href"] == chat.url, "the neutral page had not arrived yet"
    for moment in ("next_frame", "half_a_second_later"):
        assert seen[moment]["hidden"] is True, moment
        assert CANARY not in seen[moment]["html"], moment
    await page.wait_for_url(chat.exit_url)


async def test_three_shift_taps_leave_even_while_typing(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()

    await page.focus("#message")
    await page.keyboard.type("I was")
    await page.keyboard.press("Shift")
    await page.keyboard.type(" going")  # other keys between the taps are fine
    await page.keyboard.press("Shift")
    await page.keyboard.press("Shift")

    await page.wait_for_url(chat.exit_url)
    await eventually(lambda: conversations(chat), 0)
    await assert_back_does_not_show_the_chat(chat)


async def test_shift_taps_more_than_five_seconds_apart_do_not_leave(chat: Chat) -> None:
    page = chat.page
    await page.clock.install()
    await open_chat(chat)
    await page.focus("#message")

    await page.keyboard.press("Shift")
    await page.keyboard.press("Shift")
    await page.clock.fast_forward(6000)
    await page.keyboard.press("Shift")
    await page.wait_for_timeout(300)
    assert page.url == chat.url
    assert await page.locator(".bubble.bot").count() > 0

    await page.keyboard.press("Shift")
    await page.keyboard.press("Shift")  # now three within the window
    await page.wait_for_url(chat.exit_url)


async def test_shift_for_capitals_and_shift_tab_do_not_leave(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await page.focus("#message")
    for letter in "IAS":  # "I Am Scared": Shift held for each capital
        await page.keyboard.press(f"Shift+Key{letter}")
        await page.keyboard.type("x ")
    for _ in range(3):  # a keyboard user tabbing backwards
        await page.keyboard.press("Shift+Tab")
    await page.wait_for_timeout(300)

    assert page.url == chat.url
    assert await page.input_value("#message") == "Ix Ax Sx "
    assert await page.locator(".bubble.bot").count() > 0


@pytest.mark.parametrize("word", ["exit", "EXIT.", "Salir!"])
async def test_typing_exit_leaves_like_the_button(chat: Chat, word: str) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()
    await send_text(page, word)
    await page.wait_for_url(chat.exit_url)
    await eventually(lambda: conversations(chat), 0)
    await assert_back_does_not_show_the_chat(chat)


async def test_an_exit_frame_from_the_server_leaves_the_page(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    socket = await server_socket(chat)
    await socket.send_json({"type": "exit"})
    await page.wait_for_url(chat.exit_url)


# ---- Nothing on the device, nothing to anyone else -----------------------------------------

STORAGE_PROBE = """async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    indexed: (await indexedDB.databases()).length,
    caches: ('caches' in window) ? (await caches.keys()).length : 0,
    workers: navigator.serviceWorker
        ? (await navigator.serviceWorker.getRegistrations()).length : 0,
    cookie: document.cookie,
})"""
NOTHING_STORED = {"local": 0, "session": 0, "indexed": 0, "caches": 0, "workers": 0, "cookie": ""}


async def test_nothing_is_stored_on_the_device_during_or_after_a_chat(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    history_at_start = await page.evaluate("history.length")
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()
    await page.locator(".options button:not([disabled])").first.click()
    await page.locator(".bubble.me").nth(1).wait_for()

    assert await page.evaluate(STORAGE_PROBE) == NOTHING_STORED
    assert await page.evaluate("history.length") == history_at_start, "no history entries"
    assert await chat.context.cookies() == []
    assert CANARY not in str(await chat.context.storage_state(indexed_db=True))

    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)
    # Back on the service's origin (a page that starts no chat): still nothing there.
    await page.goto(chat.origin + "/healthz")
    assert await page.evaluate(STORAGE_PROBE) == NOTHING_STORED
    assert await chat.context.cookies() == []
    state = await chat.context.storage_state(indexed_db=True)
    assert state["origins"] == []
    assert CANARY not in str(state)


async def test_the_page_talks_only_to_its_own_origin(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await send_text(page, CANARY)
    await page.locator(".bubble.me", has_text=CANARY).wait_for()
    await page.locator(".options button:not([disabled])").first.click()
    await page.locator(".bubble.me").nth(1).wait_for()
    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)

    before_exit = chat.requests[: chat.requests.index(chat.exit_url)]
    assert before_exit, "the request log must have captured the chat"
    paths = {URL(url).path for url in before_exit}
    assert "/" in paths
    assert "/static/webchat/chat.js" in paths
    for url in before_exit:
        assert url.startswith(chat.origin + "/"), url
    ws_origin = chat.origin.replace("http://", "ws://", 1)
    assert chat.websockets == [ws_origin + "/channels/webchat/ws"]
    assert any('"type":"exit"' in frame for frame in chat.frames_sent)
    for url in chat.requests:
        assert "canary" not in url, "typed text never goes into a URL"


async def test_every_response_forbids_caching_framing_sniffing_and_referrers(
    chat: Chat,
) -> None:
    page = chat.page
    responses: dict[str, dict[str, str]] = {}

    async def record(response: Response) -> None:
        responses[URL(response.url).path] = await response.all_headers()

    page.on("response", record)
    await open_chat(chat)
    await page.wait_for_timeout(200)

    assert {"/", "/static/webchat/chat.js", "/static/webchat/chat.css"} <= set(responses)
    for path, headers in responses.items():
        assert headers["cache-control"] == "no-store", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        csp = {part.strip() for part in headers["content-security-policy"].split(";")}
        assert csp == EXPECTED_CSP, path
    # and the page runs under that policy without a single violation (see the fixture)


# ---- Phone, keyboard, contrast -----------------------------------------------------------


async def test_it_works_on_a_phone_sized_screen(chat: Chat) -> None:
    page = chat.page
    await page.set_viewport_size({"width": 360, "height": 640})
    await open_chat(chat)
    for i in range(8):  # enough to make the conversation scroll
        await send_text(page, f"{PLAIN_TEXT} {i}")
    await page.locator(".bubble.me", has_text=f"{PLAIN_TEXT} 7").wait_for()

    exit_box = await page.locator("#exit").bounding_box()
    assert exit_box is not None
    assert exit_box["y"] >= 0, "Exit stays on screen however long the chat"
    assert exit_box["x"] + exit_box["width"] <= 360
    assert exit_box["height"] >= 44, "a comfortable touch target"
    assert await page.locator("#exit").is_visible()
    assert await page.locator("#exit-hint").is_visible()

    composer = await page.locator("#composer").bounding_box()
    assert composer is not None
    assert composer["y"] + composer["height"] == pytest.approx(640, abs=1), "input at the bottom"
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 360
    assert await page.evaluate("document.scrollingElement.scrollTop") == 0

    bot = await page.locator(".bubble.bot").last.bounding_box()
    mine = await page.locator(".bubble.me").last.bounding_box()
    assert bot is not None
    assert mine is not None
    assert bot["x"] < mine["x"], "the service on the left, the person on the right"


async def _tab_to_an_option(page: Page) -> str:
    for _ in range(12):
        await page.keyboard.press("Tab")
        on_option = await page.evaluate(
            "document.activeElement.closest('.options') !== null"
            " && !document.activeElement.disabled"
        )
        if on_option:
            outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", "keyboard focus is visible"
            label: str = await page.evaluate("document.activeElement.textContent")
            return label
    raise AssertionError("no option button is reachable with Tab")


@pytest.mark.parametrize("key", ["Enter", "Space"])
async def test_options_work_with_the_keyboard_alone(chat: Chat, key: str) -> None:
    page = chat.page
    await open_chat(chat)
    label = await _tab_to_an_option(page)
    await page.keyboard.press(key)
    await page.locator(".bubble.me", has_text=label).wait_for()
    assert await page.evaluate("document.activeElement.id") == "message", "typing can go on"


CONTRAST_PROBE = """(checks) => {
    const rgba = (s) => {
        const m = s.match(/rgba?\\(([^)]+)\\)/);
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const channel = (c) => {
        c /= 255;
        return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    };
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g)
        + 0.0722 * channel(b);
    const background = (el) => {
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) return c;
        }
        return [255, 255, 255, 1];
    };
    const ratios = {};
    for (const [selector, pseudo] of checks) {
        const el = document.querySelector(selector);
        if (!el) { ratios[selector + (pseudo || "")] = null; continue; }
        const a = luminance(rgba(getComputedStyle(el, pseudo).color));
        const b = luminance(background(el));
        ratios[selector + (pseudo || "")] =
            (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }
    return ratios;
}"""
WHILE_CHATTING = [
    [".title", None],
    [".hint", None],
    ["#exit", None],
    [".bubble.bot", None],
    [".bubble.me", None],
    [".options button:not(:disabled)", None],
    [".options button.chosen", None],
    [".options button:disabled:not(.chosen)", None],
    [".system", None],
    ["#message", None],
    ["#message", "::placeholder"],
    ["#send", None],
]
AFTER_THE_END = [[".system button", None]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_text_meets_wcag_aa_contrast(chat: Chat, scheme: Any) -> None:
    page = chat.page
    await page.emulate_media(color_scheme=scheme)
    await open_chat(chat)
    await page.locator(".options button").first.click()
    await page.locator(".options").nth(1).wait_for()  # a newer question, so older ones disable
    socket = await server_socket(chat)
    await socket.send_json({"type": "status", "text": "Someone will be with you soon."})
    await page.locator(".system").wait_for()

    ratios = await page.evaluate(CONTRAST_PROBE, WHILE_CHATTING)
    await socket.send_json({"type": "closed"})
    await page.locator(".system button").wait_for()
    ratios |= await page.evaluate(CONTRAST_PROBE, AFTER_THE_END)

    low = {name: ratio for name, ratio in ratios.items() if ratio is None or ratio < 4.5}
    assert low == {}, f"below 4.5:1 in {scheme} mode"


# ---- README screenshots ------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") != "1", reason="set PORCHLIGHT_TEST_SCREENSHOTS=1"
)
async def test_take_readme_screenshots(chat: Chat) -> None:
    page = chat.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[tuple[str, ViewportSize]] = [
        ("webchat-desktop.png", {"width": 1280, "height": 800}),
        ("webchat-phone.png", {"width": 360, "height": 640}),
    ]
    for name, viewport in shots:
        await page.set_viewport_size(viewport)
        await open_chat(chat)
        # A typical start: "safe to talk", then the menu's second choice.
        await page.locator(".options button").first.click()
        second_question = page.locator(".options").nth(1)
        await second_question.wait_for()
        await second_question.locator("button").nth(1).click()
        await page.locator(".bubble.me").nth(1).wait_for()
        await page.wait_for_timeout(300)
        await page.locator("#message").blur()
        await page.screenshot(path=SCREENSHOTS / name)
