"""Settings administrators change in the dashboard: validated, all or nothing, live, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from config import Settings
from porchlight.state import LIVE_SETTINGS, SERVICES
from tests.factories import make_settings
from tests.handoff.conftest import SignIn


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, totp_required_roles=(), retention_days="30")


async def test_admins_see_each_setting_with_its_configured_value(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, shown = await admin.call("GET", "/settings")
    assert status == 200
    assert shown["retention_days"]["value"] == 30
    assert shown["retention_days"]["configured"] == 30
    assert shown["retention_days"]["changed_here"] is False
    assert shown["alarm_words"]["value"] == []
    assert set(shown) == {
        "retention_days",
        "report_retention_days",
        "quick_exit_url",
        "alarm_words",
        "outcome_tags",
        "handoff_offer_seconds",
        "handoff_escalate_minutes",
        "handoff_after_hours_minutes",
    }


async def test_a_change_applies_at_once_and_is_audited_with_old_and_new_values(
    client: TestClient[Any, Any], app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    status, shown = await admin.call(
        "PUT",
        "/settings",
        {
            "quick_exit_url": "https://weather.example.org/today",
            "handoff_escalate_minutes": 2,
            "alarm_words": ["Helpline", "safe house"],
        },
    )
    assert status == 200
    assert shown["quick_exit_url"]["value"] == "https://weather.example.org/today"
    assert shown["quick_exit_url"]["changed_here"] is True
    assert shown["alarm_words"]["value"] == ["helpline", "safe house"]

    page = await (await client.get("/")).text()  # the web chat's exit goes there now
    assert "https://weather.example.org/today" in page
    assert app[LIVE_SETTINGS].current.handoff_escalate_minutes == 2
    handoff_service = app[SERVICES].handoff_service
    assert handoff_service._settings.handoff_escalate_minutes == 2

    entries = await app[SERVICES].audit.entries(action="setting_changed")
    details = {e.target: e.detail for e in entries}
    assert details["handoff_escalate_minutes"] == "3 -> 2"
    assert details["alarm_words"] == "(none) -> helpline,safe house"
    assert str(details["quick_exit_url"]).endswith("-> https://weather.example.org/today")
    assert all(e.actor == "maria" for e in entries)


async def test_bad_values_change_nothing_and_each_is_named(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    status, error = await admin.call(
        "PUT",
        "/settings",
        {
            "retention_days": 5,  # fine on its own
            "quick_exit_url": "http://plain.example.org",
            "handoff_offer_seconds": 1,
            "alarm_words": ["ok", "2much"],
            "master_key": "nope",
        },
    )
    assert status == 400
    assert error["message"] == "Nothing was changed: fix the settings named."
    assert set(error["fields"]) == {
        "quick_exit_url",
        "handoff_offer_seconds",
        "alarm_words",
        "master_key",
    }
    assert "https://" in error["fields"]["quick_exit_url"]
    assert "10 to 600" in error["fields"]["handoff_offer_seconds"]
    assert error["fields"]["master_key"] == "not a setting the dashboard can change"
    _, shown = await admin.call("GET", "/settings")
    assert shown["retention_days"]["value"] == 30  # the good value was not applied either
    assert await app[SERVICES].audit.entries(action="setting_changed") == []


async def test_escalation_must_come_before_the_after_hours_answer(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, error = await admin.call("PUT", "/settings", {"handoff_escalate_minutes": 10})
    assert status == 400
    assert "less than the after-hours time" in error["fields"]["handoff_escalate_minutes"]


async def test_a_reset_cannot_leave_escalation_after_the_after_hours_answer(
    sign_in: SignIn,
) -> None:
    admin = await sign_in("maria", role="admin")
    changed = {"handoff_escalate_minutes": 1, "handoff_after_hours_minutes": 2}
    assert (await admin.call("PUT", "/settings", changed))[0] == 200
    # Back to the configured 3 minutes would be after the after-hours answer at 2.
    status, error = await admin.call("PUT", "/settings", {"handoff_escalate_minutes": None})
    assert status == 400
    assert "less than the after-hours time" in error["fields"]["handoff_escalate_minutes"]


async def test_null_returns_a_setting_to_the_configured_value(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    await admin.call("PUT", "/settings", {"retention_days": 7})
    assert app[LIVE_SETTINGS].current.retention_days == 7
    status, shown = await admin.call("PUT", "/settings", {"retention_days": None})
    assert status == 200
    assert shown["retention_days"] == {
        **shown["retention_days"],
        "value": 30,
        "changed_here": False,
    }
    assert app[LIVE_SETTINGS].current.retention_days == 30


async def test_a_restart_keeps_what_administrators_set(
    settings: Settings, make_app: Any, aiohttp_client: Any, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    await admin.call("PUT", "/settings", {"retention_days": 12})
    restarted = make_app(settings)
    await aiohttp_client(restarted)  # runs its start-up against the same database
    assert restarted[LIVE_SETTINGS].current.retention_days == 12


async def test_outcome_tags_edited_here_are_what_advocates_close_with(
    app: web.Application, sign_in: SignIn
) -> None:
    admin, advocate = await sign_in("maria", role="admin"), await sign_in("ana")
    status, error = await admin.call("PUT", "/settings", {"outcome_tags": ["ok", "Bad tag!"]})
    assert status == 400
    assert "not 'bad_tag!'" in error["fields"]["outcome_tags"]
    assert (await admin.call("PUT", "/settings", {"outcome_tags": []}))[0] == 400
    status, _ = await admin.call(
        "PUT", "/settings", {"outcome_tags": ["supported", "Referred to shelter"]}
    )
    assert status == 200
    assert await advocate.call("GET", "/outcomes") == (200, ["supported", "referred_to_shelter"])
    service = app[SERVICES].handoff_service
    assert service.outcome_tags() == ("supported", "referred_to_shelter")
