"""The administration pages in real Chromium, against the real app.

An administrator signs in with a password and a TOTP code, as they must, and works the pages
as a person would: creates an advocate and disables them, puts them on the rota, imports a
resource directory (first a file with a mistake, then a good one), changes a setting (first
to a value the server refuses), and finds all of it in the audit log.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import web
from playwright.async_api import ConsoleMessage, Dialog, FilePayload, Page, expect

from bot.directory import CATEGORIES
from porchlight.state import LIVE_SETTINGS, SERVICES
from tests.browser import launch_chromium, require_chromium
from tests.channels.webchat.test_browser import CONTRAST_PROBE
from tests.conftest import MakeApp
from tests.factories import make_settings

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
TEMPORARY_PASSWORD = "a temporary passphrase"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
HEADER = "name,category,areas,languages,phone,hours\n"
# Line 3 is wrong twice: no such category, and a phone number nobody can dial.
BAD_CSV = (
    HEADER
    + "City Helpline,hotline,*,en,+1 555 0101,24/7\n"
    + "Nowhere House,castle,Springfield,en,call us,daily\n"
)
GOOD_CSV = (
    HEADER
    + "City Helpline,hotline,*,en;es,+1 555 0101,24/7\n"
    + "Harbour Legal Aid,legal,Springfield;Shelbyville,en,555 0199,Mon-Fri 9-5\n"
)


@dataclass
class Scene:
    base: str
    app: web.Application
    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, section: str) -> Page:
        await self.page.goto(f"{self.base}/dashboard/admin/{section}")
        return self.page


@pytest.fixture
async def scene(aiohttp_server: Any, tmp_path: Path, make_app: MakeApp) -> AsyncIterator[Scene]:
    require_chromium()
    app = make_app(make_settings(tmp_path / "data"))  # administrators need two-factor
    server = await aiohttp_server(app)
    users = app[SERVICES].users
    admin = await users.add_user(username="maria", role="admin", password=PASSWORD)
    secret = pyotp.random_base32()
    await users.set_totp_secret(admin.id, secret)

    async with launch_chromium() as browser:
        # UTC, so the times this test types into the page mean what the test thinks they do.
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, timezone_id="UTC"
        )
        context.set_default_timeout(10_000)
        scene = Scene(str(server.make_url("")).rstrip("/"), app, await context.new_page())

        def on_console(message: ConsoleMessage) -> None:
            # A 4xx the page expects and shows (a refused value) is logged too: not an error.
            expected_answer = message.text.startswith(
                "Failed to load resource: the server responded with a status of 4"
            )
            if message.type == "error" and not expected_answer:
                scene.errors.append(message.text)

        async def on_dialog(dialog: Dialog) -> None:
            scene.dialogs.append(dialog.message)
            await dialog.accept()

        context.on("console", on_console)
        scene.page.on("dialog", on_dialog)
        await sign_in(scene, pyotp.TOTP(secret))
        yield scene
        await context.close()
    assert scene.errors == [], "a page logged errors (a CSP violation or a script error)"


async def sign_in(scene: Scene, totp: pyotp.TOTP) -> None:
    page = scene.page
    await page.goto(scene.base + "/dashboard/admin/people")
    assert page.url.endswith("/dashboard/login")
    await page.fill("#username", "maria")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.locator("#totp").wait_for()
    await page.fill("#totp", totp.now())
    await page.click("button[type=submit]")
    await page.wait_for_url(scene.base + "/dashboard")


# ---- What an administrator does, one page at a time -------------------------------------


async def create_and_disable_an_advocate(scene: Scene) -> None:
    page = await scene.open("people")
    await expect(page.locator('#accounts tr[data-user="maria"]')).to_contain_text("(you)")
    await page.fill("#new-username", "ana")
    await page.select_option("#new-role", "advocate")
    await page.fill("#new-password", "short")
    await page.click("#new-user button[type=submit]")
    await expect(page.locator("#new-user-error")).to_contain_text("12")  # said by the field

    await page.fill("#new-password", TEMPORARY_PASSWORD)
    await page.click("#new-user button[type=submit]")
    row = page.locator('#accounts tr[data-user="ana"]')
    await expect(row).to_contain_text("Enabled")
    await expect(row).to_contain_text("Advocate")
    await expect(page.locator("#new-password")).to_have_value("")

    await row.get_by_role("button", name="Disable ana").click()
    await expect(row).to_contain_text("Disabled")
    await expect(page.locator("#accounts-status")).to_have_text("ana is disabled.")
    assert scene.dialogs[-1].startswith("Disable ana?"), "a destructive change asks first"
    assert TEMPORARY_PASSWORD not in await page.content()


async def set_a_shift(scene: Scene) -> None:
    page = await scene.open("people")
    card = page.locator('#rota fieldset[data-user="maria"]')
    await card.get_by_role("button", name="Add shift").click()
    await card.get_by_label("Day of shift 1").select_option("2")  # Wednesday
    await card.get_by_label("From, shift 1").fill("18:00")
    await card.get_by_label("Until, shift 1").fill("25:00")
    await card.get_by_role("button", name="Save shifts for maria").click()
    await expect(card.locator(".error")).to_contain_text("between 00:00 and 24:00")

    await card.get_by_label("Until, shift 1").fill("02:00")  # past midnight
    await card.get_by_role("button", name="Save shifts for maria").click()
    card = page.locator('#rota fieldset[data-user="maria"]')
    await expect(card.locator(".done")).to_have_text("Saved 1 shift for maria.")
    await expect(card.get_by_label("From, shift 1")).to_have_value("18:00")


def csv_file(name: str, text: str) -> FilePayload:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


async def import_resources(scene: Scene) -> None:
    page = await scene.open("resources")
    await expect(page.locator("#resources tbody tr").first).to_be_visible()  # the demo entries
    await page.set_input_files("#csv-file", files=csv_file("bad.csv", BAD_CSV))
    await page.click("#csv-form button[type=submit]")
    problems = page.locator("#csv-problems li")
    await expect(problems).to_have_count(2)  # every problem, not just the first
    await expect(problems.nth(0)).to_contain_text("line 3: category 'castle'")
    await expect(problems.nth(1)).to_contain_text("line 3: phone 'call us'")
    await expect(page.locator("#csv-error-message")).to_contain_text("Nothing was imported")

    await page.set_input_files("#csv-file", files=csv_file("good.csv", GOOD_CSV))
    await page.click("#csv-form button[type=submit]")
    await expect(page.locator("#resources-status")).to_have_text(
        "Imported 2 entries from good.csv."
    )
    rows = page.locator("#resources tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("City Helpline")
    await expect(rows.nth(0)).to_contain_text("en, es")
    await expect(rows.nth(1)).to_contain_text("Springfield, Shelbyville")
    await expect(page.locator("#csv-error")).to_be_hidden()
    assert any("Replace the whole directory" in d for d in scene.dialogs)


async def change_a_setting(scene: Scene) -> None:
    page = await scene.open("settings")
    retention = page.get_by_label("Keep conversations for (days)", exact=True)
    await retention.fill("0")
    await page.click("#settings-form button[type=submit]")
    error = page.locator("#setting-retention_days-error")
    await expect(error).to_have_text("Must be a whole number from 1 to 3650.")
    await expect(retention).to_have_attribute("aria-invalid", "true")
    await expect(retention).to_be_focused()
    await expect(page.locator("#settings-error")).to_contain_text("Nothing was changed")

    await retention.fill("45")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-status")).to_have_text(
        "Saved: Keep conversations for (days)."
    )
    await expect(error).to_be_hidden()
    assert scene.app[LIVE_SETTINGS].current.retention_days == 45
    assert scene.dialogs[-1].startswith("Keep for fewer days?"), "deleting sooner asks first"


# ---- The tests ------------------------------------------------------------------------------


async def test_an_admin_creates_an_advocate_sets_a_password_and_disables_them(
    scene: Scene,
) -> None:
    page = await scene.open("people")
    await page.fill("#new-username", "sam")
    await page.fill("#new-password", TEMPORARY_PASSWORD)
    await page.click("#new-user button[type=submit]")
    row = page.locator('#accounts tr[data-user="sam"]')
    await row.get_by_role("button", name="Set temporary password").click()
    await row.get_by_label("New temporary password for sam").fill("another long passphrase")
    await row.get_by_role("button", name="Set password").click()
    await expect(page.locator("#accounts-status")).to_contain_text("password for sam is set")
    assert "another long passphrase" not in await page.content()

    await create_and_disable_an_advocate(scene)
    ana = await scene.app[SERVICES].users.get_by_username("ana")
    assert ana is not None
    assert ana.disabled
    assert ana.role == "advocate"


async def test_an_admin_sets_a_shift_and_a_one_off_change_shows_who_is_on_call(
    scene: Scene,
) -> None:
    services = scene.app[SERVICES]
    await services.users.add_user(username="ana", role="advocate", password=PASSWORD)
    await set_a_shift(scene)
    maria = await services.users.get_by_username("maria")
    assert maria is not None
    shifts = await services.rota.shifts()
    assert [(s.user_id, s.weekday, s.start, s.end) for s in shifts] == [
        (maria.id, 2, 18 * 60, 2 * 60)
    ]

    page = scene.page
    await expect(page.locator("#expected-now")).to_have_text("Nobody")
    now = datetime.now(UTC)
    await page.select_option("#override-user", label="ana")
    await page.select_option("#override-kind", "on")
    await page.fill("#override-start", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#override-end", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#new-override button[type=submit]")
    await expect(page.locator("#overrides tbody tr")).to_contain_text("ana")
    await expect(page.locator("#expected-now")).to_have_text("ana")

    await page.locator("#overrides tbody tr").get_by_role("button").click()
    await expect(page.locator("#overrides-empty")).to_be_visible()
    assert scene.dialogs[-1] == "Remove this change for ana?"


async def test_an_admin_imports_a_csv_and_is_told_every_bad_line(scene: Scene) -> None:
    page = await scene.open("resources")
    options = await page.locator("#resource-category option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert tuple(options) == CATEGORIES, "the form offers the categories the script knows"
    await import_resources(scene)

    await page.get_by_role("button", name="Edit Harbour Legal Aid").click()
    await page.fill("#resource-phone", "not a number")
    await page.click("#resource-save")
    await expect(page.locator("#resource-error")).to_contain_text("is not a number")
    await page.fill("#resource-phone", "555 0100")
    await page.click("#resource-save")
    await expect(page.locator("#resources tbody tr").nth(1)).to_contain_text("555 0100")


async def test_an_admin_changes_a_setting_and_a_bad_value_is_named(scene: Scene) -> None:
    await change_a_setting(scene)
    page = scene.page
    await page.reload()
    await expect(page.get_by_label("Keep conversations for (days)", exact=True)).to_have_value("45")
    await page.get_by_role(
        "button", name="Reset “Keep conversations for (days)” to the configured value"
    ).click()
    await expect(page.locator("#settings-status")).to_contain_text("back to the configured")
    configured = scene.app[LIVE_SETTINGS].configured()["retention_days"]
    assert scene.app[LIVE_SETTINGS].current.retention_days == configured

    await page.get_by_label("Extra alarm words").fill("refuge\nsafe house")
    await page.get_by_label("Keep anonymous reports for (days)").fill("")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-status")).to_have_text("Saved: Extra alarm words.")
    assert scene.app[LIVE_SETTINGS].alarm_words == ("refuge", "safe house")

    # Outcome tags keep their order (advocates see them so), so a new order is a change.
    tags = page.get_by_label("Outcome tags", exact=True)
    reordered = list(reversed((await tags.input_value()).splitlines()))
    await tags.fill("\n".join(reordered))
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-status")).to_have_text("Saved: Outcome tags.")
    assert list(scene.app[LIVE_SETTINGS].outcome_tags) == reordered


async def test_an_admin_adds_and_removes_a_canned_response_per_language(scene: Scene) -> None:
    page = await scene.open("responses")
    await page.fill("#new-response-language", "es")
    await page.fill("#new-response-title", "Saludo")
    await page.fill("#new-response-text", "Hola, estoy aquí para escucharte.")
    await page.click("#response-form button[type=submit]")
    await page.select_option("#response-language", "es")
    item = page.locator("#responses li", has_text="Saludo")
    await expect(item).to_contain_text("Hola, estoy aquí para escucharte.")
    await expect(page.locator("#responses li .language")).to_have_text(
        ["es"] * await page.locator("#responses li").count()
    )
    await item.get_by_role("button", name="Remove Saludo (es)").click()
    await expect(item).to_have_count(0)


async def test_the_audit_log_filters_to_the_entries_those_changes_wrote(scene: Scene) -> None:
    await create_and_disable_an_advocate(scene)
    await set_a_shift(scene)
    await import_resources(scene)
    await change_a_setting(scene)

    page = await scene.open("audit")
    rows = page.locator("#audit tbody tr")
    await expect(rows.first).to_be_visible()
    await page.fill("#audit-action", "user_disabled")
    await page.click("#audit-filter button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("maria")
    await expect(rows.first.get_by_role("button")).to_have_text("ana")  # named, not an id

    await page.click("#audit-clear")
    await page.select_option("#audit-actor", label="maria")
    await page.fill("#audit-target", "ana")
    await page.click("#audit-filter button[type=submit]")
    await expect(rows).to_have_count(2)
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.action)") == [
        "user_disabled",
        "user_created",
    ]  # newest first

    await page.click("#audit-clear")
    await page.select_option("#audit-actor", label="maria")
    await page.click("#audit-filter button[type=submit]")
    await expect(rows.locator('[data-label="Action"]', has_text="setting changed")).to_be_visible()
    actions = await rows.evaluate_all("rows => rows.map(r => r.dataset.action)")
    for action in ("user_created", "user_disabled", "rota_changed", "resources_imported"):
        assert action in actions
    assert "login" in actions
    assert actions.index("setting_changed") == 0  # the newest

    await rows.first.get_by_role("button", name="Show entries for retention_days").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("90 -> 45")
    assert "target=retention_days" in page.url  # a filtered view can be shared or reloaded


# Each page, and something its script fills in once the API has answered.
PAGES = {
    "people": "#accounts tbody tr",
    "resources": "#resources tbody tr",
    "responses": "#responses li",
    "settings": ".setting",
    "audit": "#audit tbody tr",
}


async def test_every_page_fits_a_phone_and_a_tablet(scene: Scene) -> None:
    await scene.app[SERVICES].users.add_user(username="ana", role="advocate", password=PASSWORD)
    page = scene.page
    for width, height in ((360, 740), (768, 1024)):
        await page.set_viewport_size({"width": width, "height": height})
        for section, filled in PAGES.items():
            await scene.open(section)
            await page.locator(filled).first.wait_for()
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{section} runs off the side at {width}px"


PEOPLE_TEXT = [
    [".admin-menu a[aria-current]", None],
    [".admin-menu a:not([aria-current])", None],
    ["#accounts th", None],
    ["#accounts td", None],
    ["#accounts .state-on", None],
    ["#accounts .state-off", None],
    ["#accounts button.danger", None],
    ["#accounts .muted", None],
    ["#accounts-status", None],
    [".names li.nobody", None],
    [".hint", None],
    ["#rota legend", None],
    ["#rota .empty", None],
    ["#new-user button.primary", None],
]
SETTINGS_TEXT = [
    [".setting label", None],
    [".setting .hint", None],
    ["#setting-retention_days-error", None],
    [".setting .configured span", None],
    ["#settings-error", None],
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_admin_text_meets_wcag_aa_contrast(scene: Scene, scheme: Any) -> None:
    await scene.page.emulate_media(color_scheme=scheme)
    await scene.app[SERVICES].users.add_user(username="sam", role="advocate", password=PASSWORD)
    await create_and_disable_an_advocate(scene)
    ratios = await scene.page.evaluate(CONTRAST_PROBE, PEOPLE_TEXT)
    await change_a_setting(scene)
    await scene.page.get_by_label("Keep conversations for (days)", exact=True).fill("0")
    await scene.page.click("#settings-form button[type=submit]")
    await expect(scene.page.locator("#setting-retention_days-error")).to_be_visible()
    ratios |= await scene.page.evaluate(CONTRAST_PROBE, SETTINGS_TEXT)
    low = {name: ratio for name, ratio in ratios.items() if ratio is None or ratio < 4.5}
    assert low == {}, f"below 4.5:1 in {scheme} mode"


@pytest.mark.skipif(
    os.environ.get("PORCHLIGHT_TEST_SCREENSHOTS") != "1", reason="set PORCHLIGHT_TEST_SCREENSHOTS=1"
)
async def test_take_admin_screenshots(scene: Scene) -> None:
    await scene.page.emulate_media(color_scheme="dark")
    services = scene.app[SERVICES]
    for name in ("ana", "sam"):
        await services.users.add_user(username=name, role="advocate", password=PASSWORD)
    await set_a_shift(scene)
    page = await scene.open("people")
    await expect(page.locator("#accounts tbody tr")).to_have_count(3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "admin-people.png")
    await change_a_setting(scene)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOTS / "admin-settings.png")
