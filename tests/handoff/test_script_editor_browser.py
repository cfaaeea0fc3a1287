"""The script editor and the statistics page in real Chromium.

An administrator edits the draft, sees a safety problem appear at its line, fixes it, tries
the draft in the simulator, publishes it with a note, and a new web-chat visitor gets the
new text; then reads the statistics for the conversations that made.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import ConsoleMessage, Page, expect

from porchlight.state import SERVICES
from tests.browser import launch_chromium, require_chromium
from tests.conftest import MakeApp
from tests.factories import make_settings

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
GREETING = "Hi, thanks for getting in touch. This chat is private."
NEW_GREETING = "Hello, and thanks for writing. This chat is private."


@dataclass
class Admin:
    base: str
    app: web.Application
    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def admin(aiohttp_server: Any, tmp_path: Path, make_app: MakeApp) -> AsyncIterator[Admin]:
    require_chromium()
    settings = make_settings(tmp_path / "data", totp_required_roles=())
    app = make_app(settings)
    server = await aiohttp_server(app)
    await app[SERVICES].users.add_user(username="maria", role="admin", password=PASSWORD)
    async with launch_chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            # A 422 the page expects (publishing refused) is logged by the browser too.
            expected = message.text.startswith("Failed to load resource: the server responded")
            if message.type == "error" and not expected:
                errors.append(message.text)

        context.on("console", on_console)
        page = await context.new_page()
        base = str(server.make_url("")).rstrip("/")
        await page.goto(base + "/dashboard/login")
        await page.fill("#username", "maria")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/dashboard")
        yield Admin(base, app, page, errors)
        await context.close()
    assert errors == [], "a page logged errors (a CSP violation or a script error)"


async def replace_in_draft(page: Page, old: str, new: str) -> None:
    text = await page.input_value("#source")
    assert old in text
    await page.fill("#source", text.replace(old, new))


async def test_edit_simulate_and_publish_a_script(admin: Admin) -> None:
    page = admin.page
    await page.click("a.admin-link")
    await page.click(".admin-menu >> text=Script")
    await expect(page.locator("#live-version")).to_contain_text("Live: version 1")
    # The simulator starts on the draft by itself; the draft is highlighted.
    await expect(page.locator("#sim-transcript")).to_contain_text(GREETING)
    await expect(page.locator("#highlight .key", has_text="session_minutes")).to_have_count(1)
    await expect(page.locator("#highlight .comment").first).to_contain_text("# The shipped")
    await expect(page.locator("#highlight .string", has_text=GREETING)).to_have_count(1)

    # An alarming word appears as a problem at its line, and publishing is refused.
    await replace_in_draft(page, GREETING, "Hi, this is the abuse helpline. This chat is private.")
    await expect(page.locator("#highlight .string", has_text="abuse helpline")).to_have_count(1)
    problem = page.locator("#problems li").first
    await expect(problem).to_contain_text("alarm-word")
    await expect(problem).to_contain_text("Line 65")
    await page.fill("#publish-note", "Friendlier greeting")
    await page.click("#publish")
    await expect(page.locator("#publish-result")).to_contain_text("Not published: 1 problem")

    # Clicking the problem selects the line in the draft.
    await problem.locator("button").click()
    selected = await page.evaluate(
        "() => { const s = document.getElementById('source');"
        " return s.value.slice(s.selectionStart, s.selectionEnd); }"
    )
    assert "abuse helpline" in selected

    # Fixed: no problems; the simulator runs the draft, in Spanish too.
    await replace_in_draft(
        page, "Hi, this is the abuse helpline. This chat is private.", NEW_GREETING
    )
    await expect(page.locator("#no-problems")).to_be_visible()
    await page.click("#sim-start")
    await expect(page.locator("#sim-transcript")).to_contain_text(NEW_GREETING)
    await page.fill("#sim-text", "1")
    await page.press("#sim-text", "Enter")
    await expect(page.locator("#sim-transcript")).to_contain_text("How can we help today?")
    await page.click("#sim-timeout")
    await expect(page.locator("#sim-transcript .note").last).to_be_visible()
    await page.select_option("#sim-language", "es")
    await expect(page.locator("#sim-transcript")).to_contain_text("privado")
    assert await admin.app[SERVICES].conversations.count() == 0  # nothing was stored

    if os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") == "1":
        await page.evaluate("() => { window.scrollTo(0, 0); source.scrollTop = 0; }")
        await page.screenshot(path=str(SCREENSHOTS / "admin-script.png"), full_page=False)

    await page.fill("#publish-note", "Friendlier greeting")
    await page.click("#publish")
    await expect(page.locator("#publish-result")).to_contain_text("Version 2 is live")
    await expect(page.locator("#versions li").first).to_contain_text("Friendlier greeting")
    await page.locator("#versions li").first.locator("button", has_text="Show changes").click()
    await expect(page.locator("#diff .added")).to_contain_text(NEW_GREETING)
    await expect(page.locator("#diff .removed")).to_contain_text(GREETING)

    # A new visitor of the web chat is greeted by version 2.
    visitor = await page.context.new_page()
    await visitor.goto(admin.base + "/")
    await expect(visitor.locator("#transcript")).to_contain_text(NEW_GREETING)
    await visitor.close()


async def test_the_statistics_page_shows_counts_with_small_ones_hidden(admin: Admin) -> None:
    statistics = admin.app[SERVICES].statistics
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for _ in range(11):
        await statistics.conversation_finished(
            channel="webchat", language="en", outcome="completed", started_at=now
        )
    for _ in range(12):
        await statistics.conversation_finished(
            channel="sms", language="es", outcome="quick_exit", started_at=now
        )
    page = admin.page
    await page.goto(admin.base + "/dashboard/admin/statistics")
    figures = page.locator("#figures")
    await expect(figures.locator("h2").first).to_have_text("Conversations: 23")
    channel = figures.locator("table", has_text="By channel").first
    await expect(channel.locator("tr", has_text="webchat")).to_have_text("webchat11")
    await expect(channel.locator("tr", has_text="sms")).to_have_text("sms12")
    await expect(channel.locator("tr", has_text="telegram")).to_have_text("telegram<10")
    outcome = figures.locator("table", has_text="By outcome").first
    await expect(outcome.locator("tr", has_text="quick exit")).to_have_text("quick exit12")
    if os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") == "1":
        await page.screenshot(path=str(SCREENSHOTS / "admin-statistics.png"), full_page=False)

    # A period the wrong way round is explained, not shown as empty.
    await page.fill("#from", "2026-12")
    await page.fill("#to", "2026-01")
    await page.click("#period button[type=submit]")
    await expect(page.locator("#period-error")).to_have_text("'from' must not be after 'to'")

    # The printable report for the same counts.
    await page.fill("#from", "2026-01")
    await page.fill("#to", now.date().isoformat()[:7])
    await page.click("#period button[type=submit]")
    href = await page.get_attribute("#printable", "href")
    assert href is not None
    report = await page.context.new_page()
    await report.goto(admin.base + href)
    await expect(report.locator("h1")).to_have_text("Transparency report")
    await expect(report.locator("h2").first).to_have_text("Conversations: 23")
    await report.close()
