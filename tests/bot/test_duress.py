"""The duress word: an innocent answer, and everything said before it crypto-shredded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import text

from bot.engine import InboundKind
from bot.script import load_builtin_script
from bot.service import ConversationService
from channels.base import Channel, InboundMessage, OutboundMessage
from config import Settings
from crypto import KeyRing, Pseudonymizer
from storage.conversations import ConversationStore
from storage.engine import SessionFactory, sqlite_files
from storage.outbox import DeletionQueue
from storage.reports import ReportStore
from storage.resources import ResourceStore
from tests.outbox import queued_messages

pytestmark = pytest.mark.privacy

PHONE = "+15550104417"
CANARY = "canary-pear-7127 he checks my phone"
INNOCENT = "Thanks! Your order is confirmed."


async def test_the_duress_word_shreds_the_past_and_keeps_answering_innocently(
    sessions: SessionFactory,
    keyring: KeyRing,
    settings: Settings,
    resource_store: ResourceStore,
    report_store: ReportStore,
) -> None:
    store = ConversationStore(sessions, keyring)
    service = ConversationService(
        store,
        Pseudonymizer.from_keyring(keyring),
        load_builtin_script("default"),
        resources=resource_store,
        reports=report_store,
        outbox_channels=frozenset({"sms"}),
    )

    async def say(body: str) -> None:
        await service.handle(
            InboundMessage(channel="sms", address=PHONE, kind=InboundKind.TEXT, text=body)
        )

    await say("hello")
    await say(CANARY)  # not understood, but stored
    (conversation_id,) = await store.ids()
    async with sessions() as session:
        before = [
            bytes(row[0])
            for query in ("SELECT body FROM messages", "SELECT wrapped_key FROM conversation_keys")
            for row in await session.execute(text(query))
        ]

    await say("pizza")

    assert (await queued_messages(sessions, keyring))[-1] == ("pending", INNOCENT)
    assert await store.messages(conversation_id) == [], "everything said before is gone"
    conversation = await store.get(conversation_id)
    assert conversation.reply_address == PHONE, "the innocent reply can still be delivered"
    assert conversation.flow_state["results"] == {}
    for path in sqlite_files(settings.database_url):
        content = path.read_bytes()
        assert not [blob for blob in before if blob in content], path

    await say("hello")  # whoever is holding the phone now gets no greeting, no menu
    assert (await queued_messages(sessions, keyring))[-1] == ("pending", INNOCENT)
    assert await store.ids() == [conversation_id]


ServiceFor = Callable[..., ConversationService]


@pytest.fixture
def service_for(
    sessions: SessionFactory,
    keyring: KeyRing,
    resource_store: ResourceStore,
    report_store: ReportStore,
) -> ServiceFor:
    """A service whose one channel is ``channel``, queueing provider deletions if given."""

    def make(channel: Channel, deletions: DeletionQueue | None = None) -> ConversationService:
        return ConversationService(
            ConversationStore(sessions, keyring),
            Pseudonymizer.from_keyring(keyring),
            load_builtin_script("default"),
            resources=resource_store,
            reports=report_store,
            outbox_channels=frozenset({channel.name}),
            channels={channel.name: channel},
            deletions=deletions,
        )

    return make


async def confide_then_say_the_duress_word(
    service: ConversationService, channel: str, address: str, provider_ids: list[str]
) -> None:
    """Three messages, each with the provider's id: a greeting, a secret, the duress word."""
    for provider_id, body in zip(provider_ids, ("hello", CANARY, "pizza"), strict=True):
        await service.handle(
            InboundMessage(
                channel=channel,
                address=address,
                kind=InboundKind.TEXT,
                text=body,
                provider_message_id=provider_id,
            )
        )


class CopyKeepingChannel(Channel):
    """An SMS channel as far as a wipe cares: the provider keeps copies to delete."""

    name: ClassVar[str] = "sms"
    supports_buttons: ClassVar[bool] = False
    can_delete_history: ClassVar[bool] = False
    max_text_length: ClassVar[int] = 1600
    keeps_provider_copies: ClassVar[bool] = True

    def parse_inbound(self, address: str, payload: object) -> InboundMessage:
        raise NotImplementedError

    async def send(self, address: str, message: OutboundMessage) -> str:
        raise NotImplementedError


async def test_the_duress_word_also_asks_twilio_to_delete_what_was_said(
    sessions: SessionFactory, service_for: ServiceFor
) -> None:
    deletions = DeletionQueue(sessions)
    sids = [f"SM{number:032x}" for number in range(3)]
    service = service_for(CopyKeepingChannel(), deletions)
    await confide_then_say_the_duress_word(service, "sms", PHONE, sids)
    queued = sorted(sid for job in await deletions.claim_due() for sid in job.provider_ids)
    assert queued == sids


class HistoryErasingChannel(Channel):
    """A Telegram chat as far as the duress word cares: recent messages can be deleted."""

    name: ClassVar[str] = "telegram"
    supports_buttons: ClassVar[bool] = True
    can_delete_history: ClassVar[bool] = True
    max_text_length: ClassVar[int] = 4096
    history_window: ClassVar[timedelta] = timedelta(hours=48)

    def __init__(self) -> None:
        self.erased: list[tuple[str, list[str]]] = []

    def parse_inbound(self, address: str, payload: object) -> InboundMessage:
        raise NotImplementedError

    async def send(self, address: str, message: OutboundMessage) -> str:
        raise NotImplementedError

    async def erase_history(self, address: str, message_ids: Sequence[str]) -> None:
        self.erased.append((address, list(message_ids)))


async def test_the_duress_word_also_deletes_what_was_said_from_the_telegram_chat(
    service_for: ServiceFor,
) -> None:
    chat = HistoryErasingChannel()
    await confide_then_say_the_duress_word(
        service_for(chat), "telegram", "7001", ["100", "101", "102"]
    )
    # Everything the person's chat shows, the duress word included, goes from it now.
    assert chat.erased == [("7001", ["100", "101", "102"])]
