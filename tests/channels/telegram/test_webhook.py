import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from porchlight.state import SERVICES
from tests.channels.telegram.conftest import CHAT, SECRET, TelegramRig
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.outbox import in_flight
from tests.waiting import eventually


async def count_sent(rig: TelegramRig) -> int:
    return len(rig.fake.sent())


async def test_start_is_answered_with_buttons(rig: TelegramRig) -> None:
    response = await rig.post(rig.update("start"))
    assert response.status == 200
    await eventually(lambda: count_sent(rig), 3)
    assert rig.sent_texts()[-1] == "Is it safe for you to talk right now?"
    question = rig.fake.sent()[-1]
    assert int(question["chat_id"]) == CHAT
    keyboard = question["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["safe", "not_safe", "danger"]
    assert keyboard[0][0]["text"] == "Yes, I can talk"


async def test_a_pressed_button_is_answered_and_moves_the_flow(rig: TelegramRig) -> None:
    await rig.post(rig.update("start"))
    await eventually(lambda: count_sent(rig), 3)
    await rig.post(rig.update("callback_query"))
    await eventually(lambda: count_sent(rig), 4)
    assert rig.sent_texts()[-1] == "How can we help today?"
    answered = rig.fake.called("answerCallbackQuery")
    assert [a["callback_query_id"] for a in answered] == ["4382bfdwdsb323b2d9"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_missing_or_wrong_secret_is_refused_with_no_side_effect(
    rig: TelegramRig, secret: str | None
) -> None:
    response = await rig.post(rig.update("start"), secret=secret)
    assert response.status == 403
    await asyncio.sleep(0.1)
    assert await rig.app[SERVICES].conversations.count() == 0
    assert [method for method, _ in rig.fake.calls] == ["getMe"]  # at start, nothing since


async def test_the_same_update_twice_is_processed_once(rig: TelegramRig) -> None:
    payload = rig.update("start")
    for _ in range(3):
        assert (await rig.post(payload)).status == 200
    await eventually(lambda: count_sent(rig), 3)
    await asyncio.sleep(0.2)
    assert len(rig.fake.sent()) == 3


async def test_groups_are_ignored(rig: TelegramRig) -> None:
    assert (await rig.post(rig.update("group_message"))).status == 200
    await asyncio.sleep(0.1)
    assert await rig.app[SERVICES].conversations.count() == 0


async def test_a_blocked_bot_stops_the_conversation(rig: TelegramRig) -> None:
    rig.fake.fail_next(403, "Forbidden: bot was blocked by the user")
    await rig.post(rig.update("start"))
    await eventually(rig.app[SERVICES].conversations.count, 0)
    await asyncio.sleep(0.1)
    assert rig.fake.sent() == []


async def test_flood_control_waits_as_long_as_telegram_asks(rig: TelegramRig) -> None:
    rig.fake.fail_next(429, "Too Many Requests: retry after 7", retry_after=7)
    await rig.post(rig.update("start"))
    await eventually(lambda: _failed_attempts(rig), 1)
    await eventually(lambda: in_flight(rig.app[SERVICES].outbox.counts), 0)
    rig.clock.advance(seconds=5)
    await asyncio.sleep(0.2)
    assert rig.fake.sent() == []
    rig.clock.advance(seconds=3)
    await eventually(lambda: count_sent(rig), 3)


async def test_nothing_sensitive_reaches_the_logs_at_debug(
    rig: TelegramRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await rig.post(rig.update("start"))
    await rig.post(rig.update("text", text="canary-pear-4242 I need help"))
    await eventually(lambda: count_sent(rig), 5)
    assert caplog.records
    for secret in ("canary-pear-4242", str(CHAT), TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in caplog.text, secret


async def _failed_attempts(rig: TelegramRig) -> int:
    return len(rig.fake.called("sendMessage:failed"))


async def test_set_webhook_registers_the_public_url_with_the_secret(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    fake = FakeTelegram()
    server = await aiohttp_server(fake.app())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORCHLIGHT_")}
    env.update(
        PORCHLIGHT_DATA_DIR=str(tmp_path),
        PORCHLIGHT_PUBLIC_URL="https://chat.example.org",
        PORCHLIGHT_TELEGRAM_TOKEN=TOKEN,
        PORCHLIGHT_TELEGRAM_SECRET_TOKEN=SECRET,
        PORCHLIGHT_TELEGRAM_API_BASE=str(server.make_url("")).rstrip("/"),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "porchlight", "telegram", "set-webhook",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "https://chat.example.org/channels/telegram" in out.decode()
    (registered,) = fake.called("setWebhook")
    assert registered["url"] == "https://chat.example.org/channels/telegram"
    assert registered["secret_token"] == SECRET
    assert registered["allowed_updates"] == ["message", "callback_query"]
    assert SECRET not in out.decode() + err.decode()


@pytest.mark.parametrize("word", ["EXIT", "STOP", "delete"])
async def test_leaving_deletes_both_sides_of_the_chat(rig: TelegramRig, word: str) -> None:
    await rig.post(rig.update("start"))  # message 11
    await eventually(lambda: count_sent(rig), 3)
    hello = rig.update("text", text="canary-fig-5151")
    hello["message"]["message_id"] = 12
    await rig.post(hello)
    await eventually(lambda: count_sent(rig), 5)  # "not understood" and the question again
    bot_ids = [m["message_id"] for m in rig.fake.sent_results]

    leave = rig.update("text", text=word)
    leave["message"]["message_id"] = 13
    await rig.post(leave)
    await eventually(rig.app[SERVICES].conversations.count, 0)
    await eventually(lambda: _deleted_batches(rig), 1)

    (call,) = rig.fake.called("deleteMessages")
    assert int(call["chat_id"]) == CHAT
    assert sorted(call["message_ids"]) == sorted([11, 12, 13, *bot_ids])


async def test_history_older_than_48_hours_is_not_asked_for(rig: TelegramRig) -> None:
    await rig.post(rig.update("start"))
    await eventually(lambda: count_sent(rig), 3)
    rig.clock.advance(hours=49)
    leave = rig.update("text", text="EXIT")
    leave["message"]["message_id"] = 99
    await rig.post(leave)
    await eventually(rig.app[SERVICES].conversations.count, 0)
    await eventually(lambda: _deleted_batches(rig), 1)
    (call,) = rig.fake.called("deleteMessages")
    assert call["message_ids"] == [99]


async def _deleted_batches(rig: TelegramRig) -> int:
    return len(rig.fake.called("deleteMessages"))
