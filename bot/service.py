"""The conversation service: stores each turn and runs the engine, for every channel.

Channels hand it parsed messages; it finds the person's conversation by pseudonym (never by
address), runs one engine step, stores the turn encrypted, and returns what to send. Quick
exit and opt-out wipe the conversation before anything else happens. Timers (a question
left unanswered, a session gone quiet) are fired by :meth:`fire_due_timers`, which the app
calls from a background worker; because the due time is stored, they fire after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.directory import match_resources
from bot.engine import (
    Effect,
    FlowState,
    Inbound,
    InboundKind,
    Reply,
    ReportAdditionSlot,
    ReportSlot,
    ResourceSlot,
    StepResult,
    step,
)
from bot.script import Script
from bot.slots import RECEIPT_PLACEHOLDER, addition_reply, receipt_reply, resource_replies
from channels.base import Channel, InboundMessage, OutboundMessage
from crypto import Pseudonymizer
from storage.conversations import (
    ACTIVE,
    ENDED,
    EXPIRED,
    ConversationNotFound,
    ConversationStore,
    ConversationView,
    NewMessage,
)
from storage.models import utcnow
from storage.outbox import DeletionQueue
from storage.reports import ReportStore
from storage.resources import ResourceStore

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "since the beginning", for provider copies


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """What the channel should do after one event."""

    conversation_id: str | None
    replies: tuple[Reply, ...] = ()  # to send now; empty when queued in the outbox
    ended: bool = False
    wiped: bool = False
    handoff_priority: str | None = None  # set when the person asked for a human


@dataclass(frozen=True, slots=True)
class TimerDelivery:
    """Replies a timer produced, for the channel to send to ``address``."""

    channel: str
    address: str
    outcome: TurnOutcome


class _KeyedLocks:
    """One lock per person, so two messages from one person never race through the engine."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


class ConversationService:
    """Runs conversations; see the module docstring."""

    def __init__(
        self,
        store: ConversationStore,
        pseudonymizer: Pseudonymizer,
        script: Script,
        *,
        resources: ResourceStore,
        reports: ReportStore,
        outbox_channels: frozenset[str] = frozenset(),
        channels: Mapping[str, Channel] | None = None,
        deletions: DeletionQueue | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._resources = resources
        self._reports = reports
        # Channels whose replies leave through the outbox (providers), not a live socket.
        self._outbox_channels = outbox_channels
        # To delete the chat's copy on a wipe where the provider allows it (Telegram).
        self._channels = channels if channels is not None else {}
        # To ask providers that keep copies (Twilio) to delete them after a wipe.
        self._deletions = deletions
        self._pseudonymizer = pseudonymizer
        self._script = script
        self._clock = clock
        self._locks = _KeyedLocks()

    async def handle(self, message: InboundMessage) -> TurnOutcome:
        """Process one inbound message and return the replies to send."""
        pseudonym = self._pseudonymizer.pseudonym(message.channel, message.address)
        async with self._locks.hold(pseudonym):
            return await self._handle(message, pseudonym)

    async def _handle(self, message: InboundMessage, pseudonym: str) -> TurnOutcome:
        now = self._clock()
        conversation = await self._store.find_active(message.channel, pseudonym)
        if message.is_quick_exit:
            return await self._wipe(pseudonym, message)

        state = FlowState.from_dict(conversation.flow_state) if conversation else FlowState()
        if conversation is not None and state.expires_at is not None and now >= state.expires_at:
            # Gone quiet past the session: close it and let this message start afresh.
            await self._store.close(conversation.id, EXPIRED)
            conversation, state = None, FlowState(language=state.language)

        assert message.kind is not None  # noqa: S101 -- only quick exit has no kind
        inbound = Inbound(message.kind, now, message.text, channel=message.channel)
        result = step(self._script, state, inbound)
        if Effect.WIPE in result.effects:
            return await self._wipe(pseudonym, message)

        if conversation is None:
            conversation = await self._store.start_conversation(
                channel=message.channel,
                pseudonym=pseudonym,
                reply_address=message.address,
                script=self._script.name,
                flow_state=result.state.to_dict(),
            )
            logger.info("conversation %s started on %s", conversation.alias, message.channel)
        said = []
        if message.kind is not InboundKind.START or message.provider_message_id:
            kept = RECEIPT_PLACEHOLDER if result.secret_inbound else message.text
            said.append(NewMessage("in", "person", kept, message.provider_message_id))
        return await self._record(conversation, result, said)

    async def fire_due_timers(self, limit: int = 100) -> list[TimerDelivery]:
        """Wake conversations whose wait timed out or whose session expired."""
        deliveries = []
        for conversation_id in await self._store.due_for_timer(self._clock(), limit):
            try:
                conversation = await self._store.get(conversation_id)
            except ConversationNotFound:
                continue  # wiped meanwhile
            async with self._locks.hold(conversation.pseudonym):
                delivery = await self._fire_timer(conversation.id)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    async def _fire_timer(self, conversation_id: str) -> TimerDelivery | None:
        try:  # reload under the lock: the person may have written meanwhile
            conversation = await self._store.get(conversation_id)
        except ConversationNotFound:
            return None
        if conversation.status != ACTIVE:
            return None
        state = FlowState.from_dict(conversation.flow_state)
        timer = Inbound(InboundKind.TIMER, self._clock(), channel=conversation.channel)
        result = step(self._script, state, timer)
        outcome = await self._record(conversation, result, [])
        if conversation.reply_address is None:
            return None
        return TimerDelivery(conversation.channel, conversation.reply_address, outcome)

    async def forget(self, channel: str, address: str) -> None:
        """The person's session is over for good (a web page closed): wipe what it left.

        A web chat cannot be resumed, since the browser keeps nothing, so keeping it would
        only keep content. This also covers a quick exit whose frame was lost because the
        page navigated away before the server read it.
        """
        pseudonym = self._pseudonymizer.pseudonym(channel, address)
        async with self._locks.hold(pseudonym):
            for conversation_id in await self._store.ids_for(channel, pseudonym):
                await self._store.wipe(conversation_id)

    async def _record(
        self, conversation: ConversationView, result: StepResult, said: list[NewMessage]
    ) -> TurnOutcome:
        language = result.state.language or self._script.base_language
        replies = await self._fill_slots(result.replies, language, conversation.channel)
        turn = said + [NewMessage("out", "bot", r.record_as or r.text) for r in replies]
        if Effect.EXPIRE in result.effects:
            status = EXPIRED
        elif result.state.ended:
            status = ENDED
        else:
            status = ACTIVE
        queued = conversation.channel in self._outbox_channels
        await self._store.record_turn(
            conversation.id,
            flow_state=result.state.to_dict(),
            status=status,
            messages=turn,
            timer_due_at=result.state.next_timer(),
            outbox=[OutboundMessage(r.text, r.options).to_json() for r in replies]
            if queued
            else (),
        )
        if Effect.EMERGENCY in result.effects:
            logger.warning("conversation %s used an emergency keyword", conversation.alias)
        if Effect.DURESS in result.effects:
            logger.warning("conversation %s is frozen: duress word", conversation.alias)
        return TurnOutcome(
            conversation_id=conversation.id,
            replies=() if queued else replies,
            ended=status != ACTIVE,
            handoff_priority=result.handoff_priority,
        )

    async def _fill_slots(
        self, replies: tuple[Reply, ...], language: str, channel: str
    ) -> tuple[Reply, ...]:
        filled: list[Reply] = []
        for reply in replies:
            slot = reply.slot
            if isinstance(slot, ResourceSlot):
                entries = match_resources(
                    await self._resources.all(),
                    area=slot.area,
                    categories=slot.categories,
                    language=language,
                )
                filled += resource_replies(self._script, entries, language)
            elif isinstance(slot, ReportSlot):
                code = await self._reports.submit(channel, slot.fields)
                filled.append(receipt_reply(self._script, code, language))
                logger.info("an anonymous report was submitted on %s", channel)
            elif isinstance(slot, ReportAdditionSlot):
                added = await self._reports.add_to(slot.code, slot.text)
                filled.append(addition_reply(self._script, added, language))
            else:
                filled.append(reply)
        return tuple(filled)

    async def _wipe(self, pseudonym: str, message: InboundMessage) -> TurnOutcome:
        """Wipe every conversation this person has on this channel, not just the live one.

        Someone who types EXIT or DELETE after a session expired, or after an earlier one
        ended, means all of it.
        """
        channel = message.channel
        eraser = self._channels.get(channel)
        if eraser is not None and not eraser.can_delete_history:
            eraser = None
        provider = self._channels.get(channel)
        keeps_copies = provider is not None and provider.keeps_provider_copies
        ids: list[str] = [message.provider_message_id] if message.provider_message_id else []
        copies: list[str] = list(ids)
        for conversation_id in await self._store.ids_for(channel, pseudonym):
            if eraser is not None:
                since = self._clock() - eraser.history_window
                ids += await self._store.erasable_history(conversation_id, since)
            if keeps_copies:
                copies += await self._store.erasable_history(conversation_id, EPOCH)
            await self._store.wipe(conversation_id)
        if eraser is not None and ids:
            await eraser.erase_history(message.address, ids)
        if keeps_copies and copies and self._deletions is not None:
            await self._deletions.request(channel, sorted(set(copies)))
        # No alias here: the conversation is gone and nothing should tie this line to it.
        logger.info("a conversation on %s was wiped at the person's request", channel)
        return TurnOutcome(conversation_id=None, wiped=True)
