"""The script editor's API: draft, check, simulate, publish, history, rollback, approval.

People are driven through the real conversation service on SMS; administrators through the
HTTP API with their own sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.engine import InboundKind
from bot.script import builtin_script_source
from channels.base import InboundMessage
from config import Settings
from porchlight.state import KEYRING, SERVICES
from tests.factories import make_settings
from tests.handoff.conftest import Dashboard, SignIn
from tests.outbox import queued_messages

SHIPPED = builtin_script_source("default")
MENU = "How can we help today?"
NEW_MENU = "What do you need today?"


@pytest.fixture
def settings(data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    overrides = getattr(request, "param", {})  # a test may ask for more (script_approval)
    return make_settings(data_dir, totp_required_roles=(), **overrides)


async def say(app: web.Application, text: str, phone: str) -> list[str]:
    """What an SMS person reads back (queued in the outbox) after writing ``text``."""
    service = app[SERVICES].conversation_service
    before = await outbox_texts(app)
    await service.handle(
        InboundMessage(channel="sms", address=phone, kind=InboundKind.TEXT, text=text)
    )
    return (await outbox_texts(app))[len(before) :]


async def outbox_texts(app: web.Application) -> list[str]:
    return [text for _, text in await queued_messages(app[SERVICES].sessions, app[KEYRING])]


async def publish(admin: Dashboard, source: str, note: str = "Change") -> tuple[int, Any]:
    status, saved = await admin.call("PUT", "/script/draft", {"source": source})
    assert status == 200, saved
    return await admin.call("POST", "/script/publish", {"note": note})


async def test_the_shipped_script_is_version_one_and_the_draft_starts_from_it(
    sign_in: SignIn,
) -> None:
    admin = await sign_in("maria", role="admin")
    status, overview = await admin.call("GET", "/script")
    assert status == 200
    assert overview["live"]["number"] == 1
    assert overview["live"]["note"] == "Shipped with Porchlight"
    assert overview["draft"] == {
        "source": SHIPPED,
        "saved": False,
        "updated_by": None,
        "updated_at": None,
    }


async def test_a_script_that_fails_the_safety_lint_is_never_published(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    alarming = SHIPPED.replace("This chat is private.", "This is the abuse hotline.")
    status, saved = await admin.call("PUT", "/script/draft", {"source": alarming})
    assert status == 200  # a draft may be broken: it never runs
    assert saved["publishable"] is False
    (problem,) = saved["problems"]
    assert problem["rule"] == "alarm-word"
    assert problem["line"] == 65  # the greeting's line, for the editor to point at
    assert "abuse" in problem["message"]

    status, refused = await admin.call("POST", "/script/publish", {"note": "New greeting"})
    assert status == 422
    assert refused["error"] == "not_publishable"
    assert refused["problems"] == saved["problems"]
    status, versions = await admin.call("GET", "/script/versions")
    assert [v["number"] for v in versions] == [1]
    # People still get the shipped greeting.
    assert "This chat is private." in " ".join(await say(app, "hello", "+15550100001"))


async def test_a_text_that_is_not_a_script_reports_its_line(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, checked = await admin.call("POST", "/script/check", {"source": "name: [unclosed\n"})
    assert status == 200
    assert checked["publishable"] is False
    assert checked["problems"][0]["rule"] == "structure"
    assert checked["problems"][0]["line"] >= 1
    assert "YAML" in checked["problems"][0]["message"]


async def test_alarm_words_set_in_the_dashboard_block_publishing(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, _ = await admin.call("PUT", "/settings", {"alarm_words": ["private"]})
    assert status == 200
    status, refused = await publish(admin, SHIPPED.replace(MENU, NEW_MENU))
    assert status == 422
    assert {p["rule"] for p in refused["problems"]} == {"alarm-word"}
    assert any("private" in p["message"] for p in refused["problems"])


async def test_new_conversations_get_the_new_version_and_running_ones_keep_theirs(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    started_before = "+15550100002"
    await say(app, "hello", started_before)  # greeted, asked whether it is safe to talk

    status, version = await publish(admin, SHIPPED.replace(MENU, NEW_MENU), "Warmer menu")
    assert status == 201
    assert version["number"] == 2
    assert version["status"] == "published"
    assert version["author"] == "maria"

    # Mid-conversation: the menu they were about to see is the one they started with.
    assert MENU in await say(app, "1", started_before)
    # Someone new starts on version 2.
    newcomer = "+15550100003"
    await say(app, "hello", newcomer)
    assert NEW_MENU in await say(app, "1", newcomer)


async def test_history_shows_each_change_and_rollback_publishes_an_old_text_again(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    await publish(admin, SHIPPED.replace(MENU, NEW_MENU), "Warmer menu")

    status, shown = await admin.call("GET", "/script/versions/2")
    assert status == 200
    assert f'-      en: "{MENU}"' in shown["diff"]
    assert f'+      en: "{NEW_MENU}"' in shown["diff"]
    assert shown["diff"].startswith("--- version 1\n+++ version 2")

    status, rolled = await admin.call("POST", "/script/versions/1/rollback", {})
    assert status == 201
    assert rolled["number"] == 3
    assert rolled["note"] == "Back to version 1"
    status, third = await admin.call("GET", "/script/versions/3")
    assert third["source"] == SHIPPED
    status, versions = await admin.call("GET", "/script/versions")
    assert [(v["number"], v["note"]) for v in versions] == [
        (3, "Back to version 1"),
        (2, "Warmer menu"),
        (1, "Shipped with Porchlight"),
    ]
    newcomer = "+15550100004"
    await say(app, "hello", newcomer)
    assert MENU in await say(app, "1", newcomer)

    entries = await app[SERVICES].audit.entries(actor_id=admin.account.id)
    actions = [(e.action, e.target) for e in entries]
    assert ("script_published", "default@2") in actions
    assert ("script_rolled_back", "default@3") in actions


async def test_unknown_versions_and_empty_notes_are_refused(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    assert (await admin.call("GET", "/script/versions/9"))[0] == 404
    assert (await admin.call("GET", "/script/versions/abc"))[0] == 404
    assert (await admin.call("POST", "/script/publish", {"note": "x"}))[0] == 409  # no draft
    await admin.call("PUT", "/script/draft", {"source": SHIPPED})
    status, error = await admin.call("POST", "/script/publish", {"note": "  "})
    assert status == 400
    assert "note" in error["message"]


async def test_advocates_cannot_touch_the_script(sign_in: SignIn) -> None:
    advocate = await sign_in("ana")
    for method, path, body in [
        ("GET", "/script", None),
        ("PUT", "/script/draft", {"source": SHIPPED}),
        ("POST", "/script/check", {"source": SHIPPED}),
        ("POST", "/script/simulate", {"source": SHIPPED}),
        ("POST", "/script/publish", {"note": "mine"}),
        ("GET", "/script/versions", None),
        ("POST", "/script/versions/1/rollback", {}),
        ("GET", "/settings", None),
        ("PUT", "/settings", {"retention_days": 1}),
    ]:
        status, _ = await advocate.call(method, path, body)
        assert status == 403, (method, path)


async def test_the_simulator_runs_a_draft_without_storing_anything(
    app: web.Application, sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    draft = SHIPPED.replace(MENU, NEW_MENU)

    async def step(**body: Any) -> dict[str, Any]:
        status, answer = await admin.call("POST", "/script/simulate", {"source": draft, **body})
        assert status == 200, answer
        return answer

    started = await step(action="start", channel="sms")
    assert started["said"][0]["kind"] == "bot"
    assert "This chat is private." in started["said"][0]["text"]
    asked = started["said"][-1]
    assert asked["options"] == ["Yes, I can talk", "Not really", "I'm in danger now"]

    menu = await step(action="text", text="1", session=started["session"], channel="sms")
    assert menu["said"][0]["text"] == NEW_MENU

    timed_out = await step(action="timeout", session=menu["session"], channel="sms")
    assert timed_out["said"], "the menu's timeout says something or notes the quiet end"

    spanish = await step(action="start", language="es")
    assert "privado" in spanish["said"][0]["text"].lower()

    # Nothing of it is a conversation.
    assert await app[SERVICES].conversations.count() == 0


async def test_the_simulator_explains_what_it_cannot_run(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    status, error = await admin.call("POST", "/script/simulate", {"source": "name: ["})
    assert status == 422
    assert error["error"] == "not_a_script"
    status, error = await admin.call(
        "POST",
        "/script/simulate",
        {"source": SHIPPED, "action": "text", "text": "1", "session": {"state": "nonsense"}},
    )
    assert status == 409
    assert error["error"] == "restart"
    status, error = await admin.call(
        "POST", "/script/simulate", {"source": SHIPPED, "language": "fr"}
    )
    assert status == 400
    assert "en, es" in error["message"]


@pytest.mark.parametrize("settings", [{"script_approval": "true"}], indirect=True)
async def test_with_approval_a_second_administrator_puts_a_version_live(
    app: web.Application, sign_in: SignIn
) -> None:
    maria, li = await sign_in("maria", role="admin"), await sign_in("li", role="admin")
    status, version = await publish(maria, SHIPPED.replace(MENU, NEW_MENU), "Warmer menu")
    assert status == 201
    assert version["status"] == "pending"
    newcomer = "+15550100005"
    await say(app, "hello", newcomer)
    assert MENU in await say(app, "1", newcomer)  # still version 1

    status, error = await maria.call("POST", "/script/versions/2/approve")
    assert status == 403
    assert error["error"] == "own_version"
    status, approved = await li.call("POST", "/script/versions/2/approve")
    assert status == 200
    assert approved["status"] == "published"
    assert approved["approved_by"] == "li"
    assert (await li.call("POST", "/script/versions/2/approve"))[0] == 409

    later = "+15550100006"
    await say(app, "hello", later)
    assert NEW_MENU in await say(app, "1", later)
    entries = await app[SERVICES].audit.entries(action="script_approved")
    assert [(e.actor, e.target) for e in entries] == [("li", "default@2")]


@pytest.mark.parametrize("settings", [{"script_approval": "true"}], indirect=True)
async def test_an_approver_sees_everything_that_would_go_live_and_old_versions_stay_old(
    sign_in: SignIn,
) -> None:
    maria, li = await sign_in("maria", role="admin"), await sign_in("li", role="admin")
    hidden = SHIPPED.replace("This chat is private.", "This chat is private here.")
    await publish(maria, hidden, "Small wording")  # version 2, pending
    await publish(maria, hidden.replace(MENU, NEW_MENU), "Warmer menu")  # version 3, pending

    # Version 3's changes are shown against what is live (1), so version 2's change,
    # which version 3 carries, cannot slip past the approver.
    status, shown = await li.call("GET", "/script/versions/3")
    assert shown["diff"].startswith("--- version 1\n+++ version 3")
    assert (
        '+      - en: "Hi, thanks for getting in touch. This chat is private here."'
        in (shown["diff"])
    )

    # Someone whose account is newer than the version cannot be the second pair of eyes.
    sam = await sign_in("sam", role="admin")
    status, error = await sam.call("POST", "/script/versions/3/approve")
    assert (status, error["error"]) == (403, "new_account")

    assert (await li.call("POST", "/script/versions/3/approve"))[0] == 200
    status, error = await li.call("POST", "/script/versions/2/approve")
    assert (status, error["error"]) == (409, "superseded")
    _, overview = await li.call("GET", "/script")
    assert overview["live"]["number"] == 3


async def test_a_draft_saved_by_someone_else_meanwhile_is_not_published_unseen(
    sign_in: SignIn,
) -> None:
    maria, li = await sign_in("maria", role="admin"), await sign_in("li", role="admin")
    _, saved = await maria.call("PUT", "/script/draft", {"source": SHIPPED.replace(MENU, NEW_MENU)})
    await li.call("PUT", "/script/draft", {"source": SHIPPED})  # li saves over it
    status, error = await maria.call(
        "POST", "/script/publish", {"note": "Warmer menu", "draft_saved_at": saved["saved_at"]}
    )
    assert status == 409
    assert error["message"] == "li saved the draft since: reload it before publishing."
    _, versions = await maria.call("GET", "/script/versions")
    assert len(versions) == 1
