"""The web chat in a real browser: quick exit, nothing left on the device, own origin only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from argon2 import PasswordHasher
from playwright.async_api import BrowserContext, Page

from crypto import ReceiptHasher
from porchlight.app import SERVICES, create_app
from tests.browser import launch_chromium
from tests.factories import make_settings
from tests.waiting import eventually

pytestmark = pytest.mark.browser

CANARY = "canary-7731 parrot"


@dataclass
class Chat:
    url: str
    exit_url: str
    app: web.Application
    context: BrowserContext
    page: Page
    requests: list[str]


@pytest.fixture
async def chat(
    aiohttp_server: Any,
    tmp_path: Path,
    insecure_password_hasher: PasswordHasher,
    insecure_receipt_hasher: ReceiptHasher,
) -> AsyncIterator[Chat]:
    async def weather(_request: web.Request) -> web.Response:
        return web.Response(text="<title>Weather</title><h1>Weather</h1>", content_type="text/html")

    neutral = web.Application()
    neutral.router.add_get("/weather", weather)
    neutral_server = await aiohttp_server(neutral)
    exit_url = str(neutral_server.make_url("/weather"))

    settings = make_settings(tmp_path / "data", quick_exit_url=exit_url)
    app = create_app(
        settings, password_hasher=insecure_password_hasher, receipt_hasher=insecure_receipt_hasher
    )
    server = await aiohttp_server(app)

    async with launch_chromium() as browser:
        context = await browser.new_context()
        context.set_default_timeout(10_000)
        page = await context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        yield Chat(str(server.make_url("/")), exit_url, app, context, page, requests)
        await context.close()


async def open_chat(chat: Chat) -> None:
    await chat.page.goto(chat.url)
    await chat.page.locator(".options button").first.wait_for()


async def conversations(chat: Chat) -> int:
    return await chat.app[SERVICES].conversations.count()


async def test_a_person_can_chat_with_buttons_and_text(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    assert await page.title() == "Chat"
    assert (
        "EXIT"
        in await page.locator(".bubble.bot").first.inner_text()
        + await page.locator(".bubble.bot").nth(1).inner_text()
    )

    first_option = page.locator(".options button").first
    label = await first_option.inner_text()
    await first_option.click()
    await page.locator(".bubble.me", has_text=label).wait_for()
    assert await first_option.is_disabled()

    await page.locator(".options button:not([disabled])").first.wait_for()
    await page.fill("#message", "2")
    await page.press("#message", "Enter")
    await page.locator(".bubble.bot", has_text="Which area are you in?").wait_for()
    assert await page.input_value("#message") == ""


async def test_the_exit_button_leaves_and_back_does_not_bring_the_chat_back(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await page.fill("#message", CANARY)
    await page.press("#message", "Enter")
    await page.locator(".bubble.me", has_text=CANARY).wait_for()

    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)
    await eventually(lambda: conversations(chat), 0)  # wiped on the server too

    await page.go_back()
    assert page.url != chat.url, "exit replaces the chat's history entry"
    assert CANARY not in await page.content()


async def test_pressing_shift_three_times_leaves(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await page.fill("#message", CANARY)
    await page.focus("#message")

    for _ in range(3):
        await page.keyboard.press("Shift")

    await page.wait_for_url(chat.exit_url)
    await eventually(lambda: conversations(chat), 0)


async def test_shift_presses_more_than_five_seconds_apart_do_not_leave(chat: Chat) -> None:
    page = chat.page
    await page.clock.install()
    await open_chat(chat)

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


async def test_typing_exit_leaves_like_the_button(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await page.fill("#message", "exit")
    await page.press("#message", "Enter")
    await page.wait_for_url(chat.exit_url)
    await eventually(lambda: conversations(chat), 0)


async def test_nothing_is_stored_on_the_device(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    history_at_start = await page.evaluate("history.length")
    await page.fill("#message", CANARY)
    await page.press("#message", "Enter")
    await page.locator(".bubble.me", has_text=CANARY).wait_for()
    await page.locator(".options button:not([disabled])").first.click()

    stored = await page.evaluate(
        """async () => ({
            local: localStorage.length,
            session: sessionStorage.length,
            indexed: (await indexedDB.databases()).length,
            caches: ('caches' in window) ? (await caches.keys()).length : 0,
            workers: navigator.serviceWorker
                ? (await navigator.serviceWorker.getRegistrations()).length : 0,
            history: history.length,
        })"""
    )
    assert stored == {
        "local": 0,
        "session": 0,
        "indexed": 0,
        "caches": 0,
        "workers": 0,
        "history": history_at_start,  # chatting adds no history entries
    }
    assert await chat.context.cookies() == []
    state = await chat.context.storage_state()
    assert CANARY not in str(state)

    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)
    assert await chat.context.cookies() == []
    assert CANARY not in str(await chat.context.storage_state())


async def test_the_page_talks_only_to_its_own_origin(chat: Chat) -> None:
    page = chat.page
    await open_chat(chat)
    await page.locator(".options button").first.click()
    await page.locator(".bubble.me").wait_for()
    await page.click("#exit")
    await page.wait_for_url(chat.exit_url)

    before_exit = chat.requests[: chat.requests.index(chat.exit_url)]
    origin = chat.url.rstrip("/")
    assert before_exit, "the request log must have captured the chat"
    assert any(url.startswith(origin + "/static/") for url in before_exit)
    for url in before_exit:
        assert url.startswith(origin + "/"), url


async def test_responses_forbid_caching_framing_and_referrers(chat: Chat) -> None:
    response = await chat.page.goto(chat.url)
    assert response is not None
    headers = await response.all_headers()
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in headers["content-security-policy"]


async def test_it_works_on_a_phone_sized_screen_with_the_keyboard_alone(chat: Chat) -> None:
    page = chat.page
    await page.set_viewport_size({"width": 360, "height": 640})
    await open_chat(chat)

    assert await page.locator("#exit").is_visible()
    box = await page.locator("#exit").bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 360
    assert box["height"] >= 40  # a comfortable touch target
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 360

    # Tab until an option button has focus, then press Enter.
    for _ in range(10):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "document.activeElement.closest('.options') !== null && "
            "!document.activeElement.disabled"
        )
        if focused:
            break
    assert focused, "an option button is reachable with Tab"
    label = await page.evaluate("document.activeElement.textContent")
    await page.keyboard.press("Enter")
    await page.locator(".bubble.me", has_text=label).wait_for()
