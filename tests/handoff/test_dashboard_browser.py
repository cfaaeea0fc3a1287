"""The dashboard and the web chat in real Chromium, side by side.

An advocate signs in with a password and a TOTP code, goes on call, sees a web-chat person
arrive live, claims them, and they write to each other; then the advocate closes, or the
person presses Exit and the advocate sees "Contact left". Two browser contexts, so the two
share nothing, as two different people's browsers would.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, ConsoleMessage, Page, Route, expect

from porchlight.state import SERVICES
from tests.browser import launch_chromium, require_chromium
from tests.channels.webchat.test_browser import CONTRAST_PROBE
from tests.conftest import MakeApp
from tests.factories import make_settings

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


@dataclass
class Scene:
    base: str
    app: web.Application
    advocate: Page
    person: Page
    totp: pyotp.TOTP
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def scene(aiohttp_server: Any, tmp_path: Path, make_app: MakeApp) -> AsyncIterator[Scene]:
    require_chromium()
    settings = make_settings(tmp_path / "data", totp_required_roles=("admin", "advocate"))
    app = make_app(settings, handoff_interval=0.1)
    server = await aiohttp_server(app)
    services = app[SERVICES]
    account = await services.users.add_user(username="robin", role="advocate", password=PASSWORD)
    secret = pyotp.random_base32()
    await services.users.set_totp_secret(account.id, secret)

    async with launch_chromium() as browser:
        contexts: list[BrowserContext] = []
        pages: list[Page] = []
        errors: list[str] = []
        for _ in range(2):
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(10_000)

            def on_console(message: ConsoleMessage) -> None:
                # CSP violations and script errors land here. A 4xx answer the page expects
                # and handles (the "code needed" 401 at sign-in) is logged too: not an error.
                expected_answer = message.text.startswith(
                    "Failed to load resource: the server responded with a status of 4"
                )
                if message.type == "error" and not expected_answer:
                    errors.append(message.text)

            context.on("console", on_console)
            contexts.append(context)
            pages.append(await context.new_page())
        yield Scene(
            str(server.make_url("")).rstrip("/"),
            app,
            pages[0],
            pages[1],
            pyotp.TOTP(secret),
            errors,
        )
        for context in contexts:
            await context.close()
    assert errors == [], "a page logged errors (a CSP violation or a script error)"


async def sign_in_and_go_on_call(scene: Scene) -> None:
    page = scene.advocate
    await page.goto(scene.base + "/dashboard")
    assert page.url.endswith("/dashboard/login"), "signed-out visitors are sent to sign in"
    await page.fill("#username", "robin")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.locator("#totp").wait_for()  # the password was right; now the code
    await page.fill("#totp", scene.totp.now())
    await page.click("button[type=submit]")
    await page.wait_for_url(scene.base + "/dashboard")
    await page.check("#available")
    await expect(page.locator("#available-label")).to_have_text("Available")


async def person_asks_for_someone(scene: Scene) -> None:
    page = scene.person
    await page.goto(scene.base + "/")
    await page.locator(".options button").first.click()  # yes, I can talk
    await page.locator(".options").nth(1).locator("button").first.click()  # talk to someone
    await expect(page.locator(".system.waiting")).to_contain_text("number 1 in line")


async def claim_the_waiting_conversation(scene: Scene) -> None:
    page = scene.advocate
    waiting = page.locator("#waiting .handoff")
    await expect(waiting).to_have_count(1)  # arrived live, without reloading
    await expect(waiting).to_contain_text("Contact ")
    await waiting.locator("button", has_text="Claim").click()
    await page.wait_for_url("**/dashboard/handoffs/*")
    await expect(scene.person.locator(".system").last).to_have_text(
        "Someone is here to chat with you now."
    )


async def test_an_advocate_signs_in_claims_a_web_chat_and_they_talk(scene: Scene) -> None:
    await sign_in_and_go_on_call(scene)
    await person_asks_for_someone(scene)
    await claim_the_waiting_conversation(scene)
    advocate, person = scene.advocate, scene.person

    await advocate.fill("#reply", "Hi, I'm Robin's colleague. Are you somewhere safe?")
    await advocate.keyboard.press("Enter")
    await expect(person.locator(".bubble.advocate")).to_have_text(
        "Hi, I'm Robin's colleague. Are you somewhere safe?"
    )

    await person.fill("#message", "yes, at a friend's place")
    await person.keyboard.press("Enter")
    await expect(advocate.locator("#transcript .message.person").last).to_contain_text(
        "yes, at a friend's place"
    )
    # Never an address, only the alias.
    assert "Contact " in await advocate.locator("#alias").inner_text()

    if os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await advocate.screenshot(path=SCREENSHOTS / "dashboard-conversation.png")

    await advocate.select_option("#outcome", "supported")
    await advocate.click("#close-form button[type=submit]")
    await advocate.wait_for_url(scene.base + "/dashboard")
    await expect(person.locator(".system").last).to_contain_text("This chat has ended")
    await expect(advocate.locator("#ended .handoff")).to_contain_text("Closed")


async def test_each_message_shows_once_when_two_fetches_of_new_messages_overlap(
    scene: Scene,
) -> None:
    # The transcript fetches what is new after a send and on every "message" event. Hold the
    # first fetch until a second one starts, so both ask for the same messages: each must
    # still show once (it did not, now and then, on a slow database).
    await sign_in_and_go_on_call(scene)
    await person_asks_for_someone(scene)
    await claim_the_waiting_conversation(scene)
    advocate, person = scene.advocate, scene.person
    await expect(advocate.locator("#transcript .message.bot").first).to_be_visible()
    second_fetch = asyncio.Event()
    fetched = 0

    async def hold_until_two_overlap(route: Route) -> None:
        nonlocal fetched
        if fetched == 0:
            fetched = 1
            await asyncio.wait_for(second_fetch.wait(), timeout=10)
        else:
            fetched += 1
            second_fetch.set()
        await route.continue_()

    await advocate.route(re.compile(r"/messages\?after="), hold_until_two_overlap)
    await advocate.fill("#reply", "Are you somewhere safe?")
    await advocate.keyboard.press("Enter")  # the send's own fetch, held
    await person.fill("#message", "yes")
    await person.keyboard.press("Enter")  # the event's fetch, which lets both go
    await expect(advocate.locator("#transcript .message.person").last).to_contain_text("yes")
    await expect(advocate.locator("#transcript .message.advocate")).to_have_count(1)
    await expect(advocate.locator("#transcript .message.person", has_text="yes")).to_have_count(1)
    assert fetched == 2


async def test_an_older_queue_answer_arriving_late_does_not_bring_back_who_left(
    scene: Scene,
) -> None:
    await sign_in_and_go_on_call(scene)
    advocate = scene.advocate
    await expect(advocate.locator("#waiting-count")).to_have_text("0")
    holding, late_answer, delivered = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def answer_late_once_someone_waits(route: Route) -> None:
        response = await route.fetch()
        someone_waiting = any(h["status"] == "waiting" for h in await response.json())
        if holding.is_set() or not someone_waiting:
            await route.fulfill(response=response)
            return
        holding.set()
        await late_answer.wait()
        await route.fulfill(response=response)
        delivered.set()

    await advocate.route(re.compile(r"/api/v1/handoffs$"), answer_late_once_someone_waits)
    await person_asks_for_someone(scene)
    await asyncio.wait_for(holding.wait(), timeout=10)  # an answer with them waiting, held
    await scene.person.click("#exit")  # a newer answer: nobody waiting
    await expect(advocate.locator("#waiting .handoff")).to_have_count(0)
    await expect(advocate.locator("#waiting-empty")).to_be_visible()
    late_answer.set()
    await asyncio.wait_for(delivered.wait(), timeout=10)
    await advocate.wait_for_timeout(500)  # time to (wrongly) show the old answer
    await expect(advocate.locator("#waiting .handoff")).to_have_count(0)
    await expect(advocate.locator("#waiting-count")).to_have_text("0")


async def test_the_advocate_sees_at_once_when_the_person_presses_exit(scene: Scene) -> None:
    await sign_in_and_go_on_call(scene)
    await person_asks_for_someone(scene)
    await claim_the_waiting_conversation(scene)
    advocate = scene.advocate
    await advocate.set_viewport_size({"width": 768, "height": 1024})  # a tablet, upright
    overflow = await advocate.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "nothing runs off the side on a tablet"
    await expect(advocate.locator("#send")).to_be_in_viewport()
    await scene.person.click("#exit")
    await expect(advocate.locator("#left-banner")).to_be_visible()
    await expect(advocate.locator("#left-banner")).to_contain_text("Contact left")
    await expect(advocate.locator("#send")).to_be_disabled()


@pytest.mark.skipif(
    os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") != "1", reason="set PORCHLIGHT_TEST_SCREENSHOTS=1"
)
async def test_take_dashboard_screenshots(scene: Scene) -> None:
    await scene.advocate.emulate_media(color_scheme="dark")  # how it looks at 2 a.m.
    await sign_in_and_go_on_call(scene)
    await person_asks_for_someone(scene)
    await expect(scene.advocate.locator("#waiting .handoff")).to_have_count(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await scene.advocate.screenshot(path=SCREENSHOTS / "dashboard-queue.png")


DASHBOARD_TEXT = [
    ["h1", None],
    [".hint", None],
    [".who", None],
    ["#available-label", None],
    ["#sign-out", None],
    [".handoff .alias", None],
    [".handoff .channel", None],
    [".handoff .waited", None],
    [".handoff button.primary", None],
]
CONVERSATION_TEXT = [
    ["#alias", None],
    [".message.bot .text", None],
    [".message.person .text", None],
    [".message.advocate .text", None],
    [".message .from", None],
    [".summary dt", None],
    [".summary dd", None],
    ["#reply", "::placeholder"],
    ["#send", None],
    ["#close-form button", None],
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_dashboard_text_meets_wcag_aa_contrast(scene: Scene, scheme: Any) -> None:
    await scene.advocate.emulate_media(color_scheme=scheme)
    await sign_in_and_go_on_call(scene)
    await person_asks_for_someone(scene)
    await expect(scene.advocate.locator("#waiting .handoff")).to_have_count(1)
    ratios = await scene.advocate.evaluate(CONTRAST_PROBE, DASHBOARD_TEXT)
    await claim_the_waiting_conversation(scene)
    await scene.advocate.fill("#reply", "Hello")
    await scene.advocate.keyboard.press("Enter")
    await expect(scene.advocate.locator(".message.advocate")).to_have_count(1)
    ratios |= await scene.advocate.evaluate(CONTRAST_PROBE, CONVERSATION_TEXT)
    low = {name: ratio for name, ratio in ratios.items() if ratio is None or ratio < 4.5}
    assert low == {}, f"below 4.5:1 in {scheme} mode"
