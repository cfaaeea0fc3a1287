import asyncio
import logging
from typing import Any

import pytest
from multidict import MultiDict
from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from channels import outbox as outbox_worker
from channels import webhooks
from channels.twilio import routes as twilio_routes
from porchlight.state import SERVICES
from storage.turn_rows import TurnRows
from tests.channels.twilio.conftest import PERSON, PUBLIC_URL, WEBHOOK, TwilioRig
from tests.fakes.twilio import AUTH_TOKEN, SENDER
from tests.outbox import in_flight
from tests.waiting import eventually

GREETING = [
    "Hi, thanks for getting in touch. This chat is private.",
    "To leave at any time, type EXIT. We then delete this conversation on our side.",
    "Is it safe for you to talk right now?\n"
    "1. Yes, I can talk\n2. Not really\n3. I'm in danger now",
]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def bodies(rig: TwilioRig) -> list[str]:
    return [message["Body"] for message in rig.fake.sent]


async def sent_count(rig: TwilioRig) -> int:
    return len(rig.fake.sent)


async def requests(rig: TwilioRig) -> int:
    return rig.fake.requests


async def test_a_signed_sms_is_answered_through_the_messages_api_in_order(
    twilio_rig: TwilioRig,
) -> None:
    response = await twilio_rig.post(twilio_rig.inbound("hello"))
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert await response.text() == EMPTY_TWIML

    await eventually(lambda: sent_count(twilio_rig), 3)
    assert bodies(twilio_rig) == GREETING
    assert {m["To"] for m in twilio_rig.fake.sent} == {PERSON}
    assert {m["From"] for m in twilio_rig.fake.sent} == {SENDER}

    await twilio_rig.say("1")
    await eventually(lambda: sent_count(twilio_rig), 4)
    assert bodies(twilio_rig)[3].startswith("How can we help today?\n1. Talk to someone")


@pytest.mark.parametrize(
    "signature",
    ["", "not-a-signature", "tampered"],
)
async def test_unsigned_or_tampered_webhooks_are_refused_with_no_side_effect(
    twilio_rig: TwilioRig, signature: str
) -> None:
    params = twilio_rig.inbound("hello")
    if signature == "tampered":
        signature = twilio_rig.sign(params)
        params = {**params, "Body": "something else"}
    response = await twilio_rig.post(params, signature=signature)
    assert response.status == 403
    await asyncio.sleep(0.1)
    assert await twilio_rig.app[SERVICES].conversations.count() == 0
    assert twilio_rig.fake.requests == 0


async def test_a_signature_for_another_url_is_refused(twilio_rig: TwilioRig) -> None:
    params = twilio_rig.inbound("hello")
    other = twilio_rig.sign(params, url="https://evil.example" + WEBHOOK)
    response = await twilio_rig.post(params, signature=other)
    assert response.status == 403
    assert await twilio_rig.app[SERVICES].conversations.count() == 0


async def test_a_signature_made_for_the_url_with_its_port_is_accepted(
    twilio_rig: TwilioRig,
) -> None:
    # Twilio may sign https://host:443/… for a webhook configured as https://host/…
    params = twilio_rig.inbound("hello")
    with_port = twilio_rig.sign(params, url=PUBLIC_URL + ":443" + WEBHOOK)
    assert (await twilio_rig.post(params, signature=with_port)).status == 200
    assert await twilio_rig.app[SERVICES].conversations.count() == 1


async def test_every_value_of_a_repeated_field_is_signed(twilio_rig: TwilioRig) -> None:
    params = twilio_rig.inbound("hello")
    fields = [
        *params.items(),
        ("MediaUrl", "https://a.example/1"),
        ("MediaUrl", "https://b.example/2"),
    ]
    signed = MultiDict(fields)
    signature = str(RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + WEBHOOK, signed))
    dropped = MultiDict(fields[:-1])
    headers = {"X-Twilio-Signature": signature}
    assert (await twilio_rig.client.post(WEBHOOK, data=dropped, headers=headers)).status == 403
    assert (await twilio_rig.client.post(WEBHOOK, data=signed, headers=headers)).status == 200


async def test_the_same_message_sid_twice_is_processed_once(twilio_rig: TwilioRig) -> None:
    params = twilio_rig.inbound("hello", sid="SM" + "d" * 32)
    for _ in range(3):
        assert (await twilio_rig.post(params)).status == 200
    await eventually(lambda: sent_count(twilio_rig), 3)
    await asyncio.sleep(0.2)
    assert len(twilio_rig.fake.sent) == 3
    (conversation_id,) = await twilio_rig.app[SERVICES].conversations.ids()
    messages = await twilio_rig.app[SERVICES].conversations.messages(conversation_id)
    assert [m.text for m in messages if m.sender == "person"] == ["hello"]


def fail_turns(monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """The database refuses the next turns' writes half-way through their transaction, after
    the conversations they go on were read: the delivery's record goes back with the rest.
    (First turns on PostgreSQL are one statement on a kept connection: it is refused.)"""
    failures = [OperationalError("INSERT", {}, Exception("database is locked"))] * times

    for name in ("write", "insert_on"):
        writes = getattr(TurnRows, name)

        async def failing(*args: Any, writes: Any = writes, **kwargs: Any) -> None:
            if failures:
                raise failures.pop()
            await writes(*args, **kwargs)

        monkeypatch.setattr(TurnRows, name, failing)
    monkeypatch.setattr(webhooks, "FIRST_WAIT_SECONDS", 0.01)


async def test_a_turn_refused_for_a_moment_is_tried_again_and_answered_once(
    twilio_rig: TwilioRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_turns(monkeypatch, webhooks.ATTEMPTS - 1)
    assert (await twilio_rig.post(twilio_rig.inbound("hello"))).status == 200
    await eventually(lambda: sent_count(twilio_rig), 3)
    await asyncio.sleep(0.2)
    assert bodies(twilio_rig) == GREETING
    assert await twilio_rig.app[SERVICES].conversations.count() == 1


async def test_a_message_whose_turn_failed_is_handled_when_twilio_redelivers_it(
    twilio_rig: TwilioRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_turns(monkeypatch, webhooks.ATTEMPTS)
    params = twilio_rig.inbound("hello", sid="SM" + "e" * 32)
    assert (await twilio_rig.post(params)).status == 500, "Twilio must see the failure"
    assert await twilio_rig.app[SERVICES].conversations.count() == 0

    assert (await twilio_rig.post(params)).status == 200, "the redelivery is not ignored"
    await eventually(lambda: sent_count(twilio_rig), 3)
    assert bodies(twilio_rig) == GREETING
    assert (await twilio_rig.post(params)).status == 200
    await asyncio.sleep(0.2)
    assert bodies(twilio_rig) == GREETING, "once handled, it is handled once"


async def test_stop_wipes_the_conversation_and_nothing_more_is_sent(
    twilio_rig: TwilioRig,
) -> None:
    await twilio_rig.say("hello")
    await eventually(lambda: sent_count(twilio_rig), 3)
    await twilio_rig.say("STOP")
    await eventually(twilio_rig.app[SERVICES].conversations.count, 0)
    await asyncio.sleep(0.2)
    assert len(twilio_rig.fake.sent) == 3

    await twilio_rig.say("START")  # starts afresh
    await eventually(lambda: sent_count(twilio_rig), 6)
    assert bodies(twilio_rig)[3:] == GREETING


async def test_whatsapp_senders_get_whatsapp_replies(twilio_rig: TwilioRig) -> None:
    await twilio_rig.say("hola", sender="whatsapp:+15550104418")
    await eventually(lambda: sent_count(twilio_rig), 3)
    assert {m["To"] for m in twilio_rig.fake.sent} == {"whatsapp:+15550104418"}
    assert {m["From"] for m in twilio_rig.fake.sent} == {"whatsapp:" + SENDER}
    (conversation_id,) = await twilio_rig.app[SERVICES].conversations.ids()
    conversation = await twilio_rig.app[SERVICES].conversations.get(conversation_id)
    assert conversation.channel == "whatsapp"


async def test_a_503_is_retried_later_and_delivered_once(twilio_rig: TwilioRig) -> None:
    twilio_rig.fake.fail_next(503, 20500)
    await twilio_rig.say("hello")
    await eventually(lambda: requests(twilio_rig), 1)
    await eventually(lambda: in_flight(twilio_rig.app[SERVICES].outbox.counts), 0)
    assert await _status_count(twilio_rig, "pending") == 3
    assert twilio_rig.fake.requests == 1  # later messages wait behind the failed first one

    twilio_rig.clock.advance(seconds=3)
    await eventually(lambda: sent_count(twilio_rig), 3)
    assert bodies(twilio_rig) == GREETING


async def test_a_429_is_retried_after_backing_off(twilio_rig: TwilioRig) -> None:
    twilio_rig.fake.fail_next(429, 20429, times=2)
    await twilio_rig.say("hello")
    # The clock moves only once the retry is booked, or its wait would start after the jump.
    await eventually(lambda: requests(twilio_rig), 1)
    await eventually(lambda: in_flight(twilio_rig.app[SERVICES].outbox.counts), 0)
    twilio_rig.clock.advance(seconds=3)
    await eventually(lambda: requests(twilio_rig), 2)
    await eventually(lambda: in_flight(twilio_rig.app[SERVICES].outbox.counts), 0)
    twilio_rig.clock.advance(seconds=5)
    await eventually(lambda: sent_count(twilio_rig), 3)
    assert bodies(twilio_rig) == GREETING


async def test_a_permanent_error_is_not_retried(twilio_rig: TwilioRig) -> None:
    twilio_rig.fake.fail_next(400, 21211)  # invalid 'To' number
    await twilio_rig.say("hello")
    await eventually(lambda: _status_count(twilio_rig, "failed"), 1)
    await eventually(lambda: sent_count(twilio_rig), 2)
    # Past the longest wait before a retry, yet short of the script's own 30-minute nudge.
    twilio_rig.clock.advance(seconds=outbox_worker.MAX_BACKOFF_SECONDS + 60)
    await twilio_rig.say("no")
    # The answer to "no" went out after the clock moved: a retry would have gone first.
    await eventually(lambda: _said(twilio_rig, "Okay. Your safety comes first."), True)
    assert bodies(twilio_rig)[:2] == GREETING[1:]
    assert GREETING[0] not in bodies(twilio_rig)


async def test_error_21610_means_the_person_opted_out_and_wipes_the_conversation(
    twilio_rig: TwilioRig,
) -> None:
    twilio_rig.fake.fail_next(400, 21610)
    await twilio_rig.say("hello")
    await eventually(twilio_rig.app[SERVICES].conversations.count, 0)
    await asyncio.sleep(0.2)
    assert twilio_rig.fake.sent == []
    # Twilio still holds the person's "hello": it is asked to delete it.
    await eventually(lambda: _deleted(twilio_rig), 1)


async def test_a_stalled_backend_does_not_delay_the_answer(
    twilio_rig: TwilioRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_routes, "ANSWER_WITHIN_SECONDS", 0.2)
    release = asyncio.Event()
    service = twilio_rig.app[SERVICES].conversation_service
    original = service.handle

    async def stalled(message: Any) -> Any:
        await release.wait()
        return await original(message)

    monkeypatch.setattr(service, "handle", stalled)
    async with asyncio.timeout(5):
        response = await twilio_rig.post(twilio_rig.inbound("hello"))
    assert response.status == 200
    assert twilio_rig.fake.sent == []

    release.set()  # the turn finishes in the background and its replies still go out
    await eventually(lambda: sent_count(twilio_rig), 3)


async def test_nothing_sensitive_reaches_the_logs_at_debug(
    twilio_rig: TwilioRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    twilio_rig.fake.fail_next(503, 20500)
    await twilio_rig.say("canary-plum-8080 he is outside")
    await eventually(lambda: requests(twilio_rig), 1)
    await eventually(lambda: in_flight(twilio_rig.app[SERVICES].outbox.counts), 0)
    twilio_rig.clock.advance(seconds=3)
    await eventually(lambda: sent_count(twilio_rig), 3)
    await twilio_rig.say("2")
    await eventually(lambda: sent_count(twilio_rig), 5)
    await twilio_rig.say("STOP")
    await eventually(twilio_rig.app[SERVICES].conversations.count, 0)

    logged = caplog.text
    assert caplog.records
    for secret in ("canary-plum-8080", PERSON, PERSON.lstrip("+"), AUTH_TOKEN, "Is it safe"):
        assert secret not in logged, secret
    assert PUBLIC_URL  # the signature URL is configuration, not content


async def _said(rig: TwilioRig, text: str) -> bool:
    return any(body.startswith(text) for body in bodies(rig))


async def _status_count(rig: TwilioRig, status: str) -> int:
    return (await rig.app[SERVICES].outbox.counts()).get(status, 0)


async def test_a_wipe_asks_twilio_to_delete_its_copies_of_both_sides(
    twilio_rig: TwilioRig,
) -> None:
    hello = twilio_rig.inbound("hello")
    await twilio_rig.post(hello)
    await eventually(lambda: sent_count(twilio_rig), 3)
    stop = twilio_rig.inbound("STOP")
    await twilio_rig.post(stop)

    expected = {hello["MessageSid"], stop["MessageSid"], *(m["Sid"] for m in twilio_rig.fake.sent)}
    await eventually(lambda: _deleted(twilio_rig), len(expected))
    assert set(twilio_rig.fake.deleted) == expected
    no_jobs: dict[str, int] = {}
    await eventually(twilio_rig.app[SERVICES].deletions.counts, no_jobs)  # done: forgotten


async def test_a_copy_twilio_cannot_delete_yet_is_retried(twilio_rig: TwilioRig) -> None:
    await twilio_rig.say("hello")
    await eventually(lambda: sent_count(twilio_rig), 3)
    twilio_rig.fake.refuse_deletes = 1
    await twilio_rig.say("DELETE")
    await eventually(lambda: _deleted(twilio_rig), 4)  # all but the refused one
    await eventually(lambda: in_flight(twilio_rig.app[SERVICES].deletions.counts), 0)
    twilio_rig.clock.advance(seconds=3)
    await eventually(lambda: _deleted(twilio_rig), 5)


async def _deleted(rig: TwilioRig) -> int:
    return len(rig.fake.deleted)
