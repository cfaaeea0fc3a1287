"""The administration pages: for administrators only, each reachable from the menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from config import Settings
from handoff.dashboard import ADMIN_PAGES
from tests.factories import make_settings
from tests.handoff.conftest import SignIn


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, totp_required_roles=())


def path(section: str) -> str:
    return "/dashboard/admin" + (f"/{section}" if section else "")


async def test_administrators_get_every_page_and_the_menu_links_them_all(
    sign_in: SignIn,
) -> None:
    admin = await sign_in("maria", role="admin")
    for section, page in ADMIN_PAGES.items():
        response = await admin.http.get(path(section))
        assert response.status == 200, section
        html = await response.text()
        assert f"<h1>{page.label if section else 'Administration'}" in html
        for other in ADMIN_PAGES:
            assert f'href="{path(other)}"' in html


async def test_advocates_are_refused_and_strangers_sent_to_sign_in(
    client: TestClient[Any, Any], sign_in: SignIn
) -> None:
    advocate = await sign_in("ana")
    for section in ADMIN_PAGES:
        assert (await advocate.http.get(path(section))).status == 403
    queue = await (await advocate.http.get("/dashboard")).text()
    assert "/dashboard/admin" not in queue  # no menu entry they cannot use
    stranger = await client.get("/dashboard/admin/script", allow_redirects=False)
    assert stranger.status == 302
    assert stranger.headers["Location"] == "/dashboard/login"


async def test_an_unknown_page_is_not_found(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    assert (await admin.http.get("/dashboard/admin/nothing-here")).status == 404
