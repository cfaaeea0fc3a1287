from collections.abc import Callable
from typing import ClassVar

import pytest

from channels.base import Channel, DeliveryError, InboundMessage, OutboundMessage
from channels.outbox import MAX_ATTEMPTS, OutboxWorker, RateLimiter, backoff
from crypto import KeyRing
from storage.conversations import ACTIVE, ConversationStore, NewMessage
from storage.engine import SessionFactory
from storage.outbox import DeletionQueue, OutboxStore
from tests.clock import FakeClock


class RecordingChannel(Channel):
    name: ClassVar[str] = "sms"
    supports_buttons: ClassVar[bool] = False
    can_delete_history: ClassVar[bool] = False
    max_text_length: ClassVar[int] = 1600

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: list[DeliveryError] = []

    def parse_inbound(self, address: str, payload: object) -> InboundMessage:
        raise NotImplementedError

    async def send(self, address: str, message: OutboundMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((address, message.text))
        return f"SM{len(self.sent)}"


NO_LIMITS = RateLimiter({})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def queue(store: ConversationStore, texts: list[str], address: str = "+15550104417") -> str:
    view = await store.start_conversation(
        channel="sms", pseudonym=address * 4, reply_address=address, script="s", flow_state={}
    )
    await store.record_turn(
        view.id,
        flow_state={},
        status=ACTIVE,
        messages=[NewMessage("out", "bot", t) for t in texts],
        outbox=[OutboundMessage(t).to_json() for t in texts],
    )
    return view.id


async def test_messages_go_out_in_order_per_conversation(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    await queue(conversations, ["one", "two", "three"])
    await queue(conversations, ["alpha", "beta"], address="+15550104418")
    channel = RecordingChannel()
    worker = OutboxWorker(
        OutboxStore(sessions, keyring, clock), conversations, {"sms": channel}, limiter=NO_LIMITS
    )

    assert await worker.deliver_due() == 5
    first = [text for address, text in channel.sent if address == "+15550104417"]
    second = [text for address, text in channel.sent if address == "+15550104418"]
    assert first == ["one", "two", "three"]
    assert second == ["alpha", "beta"]
    assert await worker.deliver_due() == 0  # nothing twice


async def test_after_a_crash_queued_messages_are_delivered_and_in_flight_ones_not_resent(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    await queue(conversations, ["one", "two", "three"])
    before_crash = OutboxStore(sessions, keyring, clock)
    due = await before_crash.due()
    assert [d.payload for d in due] == [OutboundMessage("one").to_json()]
    assert await before_crash.start_sending(due[0].id)
    # The process dies here, before Twilio answers: nobody knows whether "one" went out.

    after_restart = OutboxStore(sessions, keyring, clock)
    assert await after_restart.recover_after_crash() == 1
    channel = RecordingChannel()
    worker = OutboxWorker(after_restart, conversations, {"sms": channel}, limiter=NO_LIMITS)
    await worker.deliver_due()

    assert [text for _, text in channel.sent] == ["two", "three"]
    assert await after_restart.counts() == {"unconfirmed": 1, "sent": 2}


async def test_passing_failures_back_off_and_permanent_ones_stop(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    await queue(conversations, ["one"])
    channel = RecordingChannel()
    channel.failures = [DeliveryError("503", permanent=False)] * 2
    outbox = OutboxStore(sessions, keyring, clock)
    worker = OutboxWorker(outbox, conversations, {"sms": channel}, clock=clock, limiter=NO_LIMITS)

    await worker.deliver_due()
    clock.advance(seconds=backoff(1) - 1)
    await worker.deliver_due()
    assert channel.sent == []  # not due yet
    clock.advance(seconds=1)
    await worker.deliver_due()  # second failure: waits backoff(2)
    clock.advance(seconds=backoff(2))
    await worker.deliver_due()
    assert [text for _, text in channel.sent] == ["one"]

    await queue(conversations, ["two"], address="+15550104418")
    channel.failures = [DeliveryError("400", permanent=True)]
    await worker.deliver_due()
    clock.advance(hours=1)
    await worker.deliver_due()
    assert [text for _, text in channel.sent] == ["one"]
    assert (await outbox.counts())["failed"] == 1


async def test_a_provider_that_never_recovers_is_given_up_on(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    await queue(conversations, ["one"])
    channel = RecordingChannel()
    channel.failures = [DeliveryError("503", permanent=False)] * (MAX_ATTEMPTS + 5)
    outbox = OutboxStore(sessions, keyring, clock)
    worker = OutboxWorker(outbox, conversations, {"sms": channel}, clock=clock, limiter=NO_LIMITS)
    for _ in range(MAX_ATTEMPTS + 2):
        await worker.deliver_due()
        clock.advance(hours=1)
    assert await outbox.counts() == {"failed": 1}


async def test_a_wiped_conversation_loses_its_queue(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    conversation_id = await queue(conversations, ["one", "two"])
    await conversations.wipe(conversation_id)
    channel = RecordingChannel()
    outbox = OutboxStore(sessions, keyring, clock)
    assert await OutboxWorker(outbox, conversations, {"sms": channel}).deliver_due() == 0
    assert channel.sent == []
    assert await outbox.counts() == {}


async def test_the_rate_limiter_spaces_a_recipient_and_a_channel() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    limiter = RateLimiter({"sms": (0.5, 2.0)}, monotonic=lambda: now[0], sleep=sleep)
    await limiter.wait_turn("sms", "+1")  # free
    await limiter.wait_turn("sms", "+2")  # another person: only the channel gap
    await limiter.wait_turn("sms", "+1")  # same person again: their 2 s gap
    await limiter.wait_turn("web", "x")  # unlimited channel
    assert slept == [0.5, 1.5]


async def test_an_advocates_message_waits_for_the_safe_contact_window(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    # The person said evenings (17:00-22:00); a retry ran past the window's end.
    conversations = ConversationStore(sessions, keyring, clock=clock)
    view = await conversations.start_conversation(
        channel="sms",
        pseudonym="p" * 64,
        reply_address="+15550104417",
        script="s",
        flow_state={"results": {"safe_window": "17:00-22:00"}},
    )
    held = OutboundMessage("Are you free to talk?", safe_window_only=True)
    answer = OutboundMessage("Thanks, noted.")  # answers the person: not held
    await conversations.record_turn(
        view.id,
        flow_state={"results": {"safe_window": "17:00-22:00"}},
        status=ACTIVE,
        messages=[],
        outbox=[answer.to_json(), held.to_json()],
    )
    channel = RecordingChannel()
    worker = OutboxWorker(
        OutboxStore(sessions, keyring, clock=clock),
        conversations,
        {"sms": channel},
        clock=clock,
        limiter=NO_LIMITS,
    )
    await worker.deliver_due()  # 02:00 UTC
    assert [text for _, text in channel.sent] == ["Thanks, noted."]
    clock.advance(hours=14, minutes=59)  # 16:59: still closed
    await worker.deliver_due()
    assert len(channel.sent) == 1
    clock.advance(minutes=1)  # 17:00: the window opens
    await worker.deliver_due()
    assert [text for _, text in channel.sent] == ["Thanks, noted.", "Are you free to talk?"]


async def test_a_crash_leaves_only_the_row_being_sent_unconfirmed_not_the_whole_batch(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    conversations = ConversationStore(sessions, keyring, clock=clock)
    for number in range(5):  # five people, so five rows are due at once
        await queue(conversations, [f"reply {number}"], address=f"+1555010440{number}")
    store = OutboxStore(sessions, keyring, clock)
    batch = await store.due()
    assert len(batch) == 5
    assert await store.start_sending(batch[0].id)
    assert not await store.start_sending(batch[0].id)  # never twice
    # Killed while the first is with the provider.
    assert await OutboxStore(sessions, keyring, clock).recover_after_crash() == 1
    channel = RecordingChannel()
    worker = OutboxWorker(store, conversations, {"sms": channel}, limiter=NO_LIMITS)
    await worker.deliver_due()
    assert sorted(text for _, text in channel.sent) == [f"reply {n}" for n in range(1, 5)]


async def test_deletions_interrupted_by_a_crash_are_tried_again(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    queue = DeletionQueue(sessions, clock=clock)
    await queue.request("sms", ["SM0001"])
    assert [job.provider_ids for job in await queue.claim_due()] == [("SM0001",)]
    # The process dies while asking Twilio; deleting twice is harmless, forgetting is not.
    assert await DeletionQueue(sessions, clock=clock).resume_after_crash() == 1
    assert [job.provider_ids for job in await queue.claim_due()] == [("SM0001",)]


class CopyKeepingChannel(RecordingChannel):
    """Twilio-like: keeps copies, and refuses to delete some of them."""

    keeps_provider_copies: ClassVar[bool] = True

    def __init__(self, refused: dict[str, DeliveryError]) -> None:
        super().__init__()
        self.refused = refused
        self.deleted: list[str] = []

    async def delete_provider_copy(self, provider_id: str) -> None:
        if provider_id in self.refused:
            raise self.refused[provider_id]
        self.deleted.append(provider_id)


def deleting_worker(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock, channel: Channel
) -> tuple[OutboxWorker, DeletionQueue]:
    queue = DeletionQueue(sessions, clock=clock)
    worker = OutboxWorker(
        OutboxStore(sessions, keyring, clock),
        ConversationStore(sessions, keyring, clock=clock),
        {"sms": channel},
        clock=clock,
        deletions=queue,
    )
    return worker, queue


async def test_only_the_copies_a_provider_refused_to_delete_are_asked_about_again(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    channel = CopyKeepingChannel(
        {
            "SM2": DeliveryError("still in flight", permanent=False),
            "SM3": DeliveryError("not found in this account", permanent=True),
        }
    )
    worker, queue = deleting_worker(sessions, keyring, clock, channel)
    await queue.request("sms", ["SM1", "SM2", "SM3", "SM4"])

    assert await worker.delete_due() == 2
    assert channel.deleted == ["SM1", "SM4"]
    assert await queue.counts() == {"pending": 1, "failed": 1}
    assert await queue.claim_due() == []  # the refused one waits its backoff

    clock.advance(seconds=backoff(1))
    del channel.refused["SM2"]
    assert await worker.delete_due() == 1
    assert channel.deleted == ["SM1", "SM4", "SM2"]  # SM3 was not asked about again
    assert await queue.counts() == {"failed": 1}  # kept for an operator to see


class BreaksOnSM2(CopyKeepingChannel):
    """A channel whose deletion of SM2 fails in a way it does not wrap as a DeliveryError."""

    def __init__(self) -> None:
        super().__init__({})
        self.broken = True

    async def delete_provider_copy(self, provider_id: str) -> None:
        if provider_id == "SM2" and self.broken:
            raise RuntimeError("an error the channel did not foresee")
        self.deleted.append(provider_id)


async def test_a_deletion_that_fails_unexpectedly_is_asked_again_with_the_rest_done(
    sessions: SessionFactory, keyring: KeyRing, clock: FakeClock
) -> None:
    channel = BreaksOnSM2()
    worker, queue = deleting_worker(sessions, keyring, clock, channel)
    await queue.request("sms", ["SM1", "SM2", "SM3"])

    assert await worker.delete_due() == 2
    assert channel.deleted == ["SM1", "SM3"]  # the ids after it were still asked about
    assert await queue.counts() == {"pending": 1}  # not stuck in "sending"
    clock.advance(seconds=backoff(1))
    channel.broken = False
    assert await worker.delete_due() == 1
    assert channel.deleted == ["SM1", "SM3", "SM2"]
    assert await queue.counts() == {}


@pytest.mark.parametrize(
    "make_channel",
    [
        lambda: CopyKeepingChannel({"SM2": DeliveryError("still in flight", permanent=False)}),
        BreaksOnSM2,
    ],
    ids=["refused", "unexpected error"],
)
async def test_a_deletion_failing_at_its_last_attempt_is_kept_as_failed(
    sessions: SessionFactory,
    keyring: KeyRing,
    clock: FakeClock,
    make_channel: Callable[[], CopyKeepingChannel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("channels.outbox.MAX_DELETION_ATTEMPTS", 1)
    worker, queue = deleting_worker(sessions, keyring, clock, make_channel())
    await queue.request("sms", ["SM1", "SM2"])

    assert await worker.delete_due() == 1
    assert await queue.counts() == {"failed": 1}  # not asked again, kept for an operator


async def test_deletions_are_queued_fifty_to_a_job_and_claimed_a_job_at_a_time(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    queue = DeletionQueue(sessions, clock=clock)
    sids = [f"SM{number:032x}" for number in range(120)]
    await queue.request("sms", sids)

    first = await queue.claim_due()
    assert [job.provider_ids for job in first] == [tuple(sids[:50])]
    rest = await queue.claim_due(max_ids=1000)
    assert sorted(len(job.provider_ids) for job in rest) == [20, 50]
    assert sorted(sid for job in first + rest for sid in job.provider_ids) == sids


@pytest.mark.parametrize("bad", ["", "SM1 SM2"])
async def test_a_malformed_provider_id_queues_nothing(
    sessions: SessionFactory, clock: FakeClock, bad: str
) -> None:
    queue = DeletionQueue(sessions, clock=clock)
    with pytest.raises(ValueError, match="provider id"):
        await queue.request("sms", ["SM0001", bad])
    assert await queue.counts() == {}
