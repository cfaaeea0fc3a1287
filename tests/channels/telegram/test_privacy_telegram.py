"""A Telegram conversation handed to an advocate leaves no canary anywhere we can look."""

from __future__ import annotations

import logging

import pytest

from porchlight.state import SERVICES, SETTINGS
from tests.channels.telegram.conftest import CHAT, SECRET, TelegramRig
from tests.fakes.telegram import TOKEN
from tests.privacy import canaries_in, files_written_since, now, stored_blobs
from tests.waiting import eventually

pytestmark = pytest.mark.privacy

CANARY_WORDS = "canary-quince-2290 he took the car keys"
CANARY_ADVOCATE = "canary-advocate-6614 is there somewhere you can go"
CANARY_NOTE = "canary-note-3308 sister in the next town"
CANARIES = (str(CHAT), CANARY_WORDS, CANARY_ADVOCATE, CANARY_NOTE, TOKEN, SECRET)


async def test_a_telegram_handoff_then_exit_leaves_no_canary_on_disk_or_in_logs(
    rig: TelegramRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    started = now()
    services = rig.app[SERVICES]
    advocate = await services.users.add_user(username="ana", role="advocate", password="p" * 12)
    await services.presence.set_available(advocate.id, True)

    await rig.post(rig.update("start"))
    for answer in ("1", "1", "1"):  # safe to talk, talk to someone, any time
        await rig.post(rig.update("text", text=answer))

    async def waiting() -> int:
        return len(await services.handoffs.queue())

    await eventually(waiting, 1)
    (handoff,) = await services.handoffs.queue()
    await services.handoff_service.claim(handoff.id, advocate)
    await rig.post(rig.update("text", text=CANARY_WORDS))

    async def person_wrote() -> bool:
        transcript = await services.handoff_service.transcript(handoff.id, advocate)
        return any(m.text == CANARY_WORDS for m in transcript)

    await eventually(person_wrote, True)
    await services.handoff_service.send(handoff.id, advocate, CANARY_ADVOCATE)
    await services.handoff_service.add_note(handoff.id, advocate, CANARY_NOTE)
    await eventually(lambda: _sent(rig, CANARY_ADVOCATE), True)
    await rig.post(rig.update("text", text="EXIT"))

    async def status() -> str:
        return (await services.handoffs.get(handoff.id)).status

    await eventually(status, "left")
    await eventually(services.conversations.count, 0)
    await rig.client.close()  # flush and close the database

    files = files_written_since(started, rig.app[SETTINGS].data_dir)
    for where, blob in await stored_blobs(rig.app[SETTINGS].database_url, files):
        assert canaries_in(blob, CANARIES) == [], where
    assert caplog.records, "the test must actually capture logs"
    assert canaries_in(caplog.text.encode(), CANARIES) == []


async def _sent(rig: TelegramRig, text: str) -> bool:
    return text in rig.sent_texts()
