"""An SMS conversation handed to an advocate leaves no canary anywhere we can look.

A canary phone number writes canary text, an advocate answers and takes a note (canaries
too), the person sends STOP. Then every byte under DATA_DIR (database, WAL, key file) and
every log record at DEBUG is searched for each canary in plain, digits-only, URL-encoded,
JSON-escaped and base64 forms.
"""

from __future__ import annotations

import logging

import pytest

from porchlight.state import SERVICES, SETTINGS
from tests.channels.twilio.conftest import TwilioRig
from tests.privacy import canaries_in, files_written_since, forms, now, stored_blobs
from tests.waiting import eventually

pytestmark = pytest.mark.privacy

CANARY_PHONE = "+15550109876"
CANARY_WORDS = "canary-plum-4410 he reads my texts"
CANARY_ADVOCATE = "canary-advocate-5521 you can call the shelter"
CANARY_NOTE = "canary-note-8830 lives near the depot"


CANARIES = (CANARY_PHONE, CANARY_WORDS, CANARY_ADVOCATE, CANARY_NOTE)


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
async def test_a_handoff_then_stop_leaves_no_canary_on_disk_or_in_logs(
    twilio_rig: TwilioRig, caplog: pytest.LogCaptureFixture, channel: str
) -> None:
    caplog.set_level(logging.DEBUG)
    started = now()
    sender = CANARY_PHONE if channel == "sms" else f"whatsapp:{CANARY_PHONE}"
    services = twilio_rig.app[SERVICES]
    advocate = await services.users.add_user(username="ana", role="advocate", password="p" * 12)
    await services.presence.set_available(advocate.id, True)

    for body in ("hello", "1", "1", "1"):  # safe to talk, talk to someone, any time
        await twilio_rig.say(body, sender=sender)
    (handoff,) = await services.handoffs.queue()
    await services.handoff_service.claim(handoff.id, advocate)
    await twilio_rig.say(CANARY_WORDS, sender=sender)

    async def person_wrote() -> bool:
        transcript = await services.handoff_service.transcript(handoff.id, advocate)
        return any(m.text == CANARY_WORDS for m in transcript)

    await eventually(person_wrote, True)
    await services.handoff_service.send(handoff.id, advocate, CANARY_ADVOCATE)
    await services.handoff_service.add_note(handoff.id, advocate, CANARY_NOTE)

    async def delivered() -> bool:
        return any(m["Body"] == CANARY_ADVOCATE for m in twilio_rig.fake.sent)

    await eventually(delivered, True)
    await twilio_rig.say("STOP", sender=sender)

    async def left() -> str:
        return (await services.handoffs.get(handoff.id)).status

    await eventually(left, "left")
    await eventually(services.conversations.count, 0)
    await twilio_rig.client.close()  # flush and close the database

    data_dir = twilio_rig.app[SETTINGS].data_dir
    files = files_written_since(started, data_dir)
    database_url = twilio_rig.app[SETTINGS].database_url
    for where, blob in await stored_blobs(database_url, files):
        assert canaries_in(blob, CANARIES) == [], where
    assert caplog.records, "the test must actually capture logs"
    assert canaries_in(caplog.text.encode(), CANARIES) == []


def test_the_phone_forms_include_digits_only() -> None:
    assert b"15550109876" in forms(CANARY_PHONE)
    assert canaries_in(b"to=%2B15550109876", CANARIES) != []
