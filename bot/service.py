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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from bot.attempts import AttemptLimiter
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
    divert,
    step,
)
from bot.library import ScriptLibrary
from bot.script import Script
from bot.slots import RECEIPT_PLACEHOLDER, addition_reply, receipt_reply, resource_replies
from channels.base import Channel, InboundMessage, OutboundMessage, RecipientGone
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
from storage.inbound import AlreadyHandled, InboundLedger
from storage.models import utcnow
from storage.outbox import DeletionQueue
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.statistics import StatisticsStore

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "since the beginning", for provider copies
# Where a waiting person is told their place in line. On SMS and WhatsApp the handoff node's
# own message is the only holding message: a phone is not filled with updates.
QUEUE_UPDATE_CHANNELS = frozenset({"webchat", "telegram"})


def _ignored(message: InboundMessage) -> TurnOutcome:
    logger.info("%s: a redelivered message was ignored", message.channel)
    return TurnOutcome(conversation_id=None)


class PersonUnavailable(Exception):
    """The person left, stopped or went quiet: nothing more may be sent to them."""


@dataclass(frozen=True, slots=True)
class QueueTicket:
    """The person's place in the advocates' queue."""

    position: int
    minutes: int


class HandoffHooks(Protocol):
    """What the conversation service tells the handoff side (implemented in ``handoff/``)."""

    async def requested(self, conversation: ConversationView, priority: str) -> QueueTicket | None:
        """Queue the person (or raise their priority); None when nobody can take them."""

    async def person_wrote(self, conversation_id: str) -> None:
        """A message for the advocate was stored."""

    async def person_left(self, conversation_ids: Sequence[str], reason: str) -> None:
        """The person exited, stopped, went quiet or used the duress word."""


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """What the channel should do after one event."""

    conversation_id: str | None
    replies: tuple[Reply, ...] = ()  # to send now; empty when queued in the outbox
    ended: bool = False
    wiped: bool = False
    handoff_priority: str | None = None  # set when the person asked for a human
    # Web chat only: status frames to send after the replies (place in line).
    status: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class AdvocateDelivery:
    """Where an advocate's message goes: queued for a provider, or live to a web chat."""

    channel: str
    address: str | None
    queued: bool


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

    def hold(self, key: str) -> _Held:
        """``async with locks.hold(pseudonym):`` the person's turn, one at a time."""
        return _Held(self, key)

    async def acquire(self, key: str) -> None:
        """Wait for the key's lock; the lock lives as long as anyone holds or awaits it."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            await lock.acquire()
        except BaseException:
            self._forget_user(key)
            raise

    def release(self, key: str) -> None:
        """Let the next message of this person in."""
        self._locks[key].release()
        self._forget_user(key)

    def _forget_user(self, key: str) -> None:
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key], self._locks[key]


class _Held:
    """Holding one key's lock, written out: contextlib's generator-based one cost more."""

    def __init__(self, locks: _KeyedLocks, key: str) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        await self._locks.acquire(self._key)

    async def __aexit__(self, *_exc: object) -> None:
        self._locks.release(self._key)


class ConversationService:
    """Runs conversations; see the module docstring."""

    def __init__(
        self,
        store: ConversationStore,
        pseudonymizer: Pseudonymizer,
        script: Script | ScriptLibrary,
        *,
        resources: ResourceStore,
        reports: ReportStore,
        outbox_channels: frozenset[str] = frozenset(),
        channels: Mapping[str, Channel] | None = None,
        deletions: DeletionQueue | None = None,
        clock: Callable[[], datetime] = utcnow,
        receipt_attempts: AttemptLimiter | None = None,
        statistics: StatisticsStore | None = None,
        ledger: InboundLedger | None = None,
    ) -> None:
        self._store = store
        # Names providers' deliveries, so a redelivered message is handled once.
        self._ledger = ledger
        self._resources = resources
        self._reports = reports
        # Channels whose replies leave through the outbox (providers), not a live socket.
        self._outbox_channels = outbox_channels
        # To delete the chat's copy on a wipe where the provider allows it (Telegram).
        self._channels = channels if channels is not None else {}
        # To ask providers that keep copies (Twilio) to delete them after a wipe.
        self._deletions = deletions
        self._pseudonymizer = pseudonymizer
        # The live version for new conversations, each running one's own (see bot/library.py).
        self._library = script if isinstance(script, ScriptLibrary) else ScriptLibrary.fixed(script)
        self._clock = clock
        self._locks = _KeyedLocks()
        self._handoffs: HandoffHooks | None = None
        self._receipt_attempts = receipt_attempts or AttemptLimiter()
        self._statistics = statistics

    def attach_handoffs(self, hooks: HandoffHooks) -> None:
        """Connect the advocates' side; without it a handoff goes straight to after hours."""
        self._handoffs = hooks

    async def handle(self, message: InboundMessage) -> TurnOutcome:
        """Process one inbound message and return the replies to send.

        A provider's redelivery of a message already handled is ignored: a person must not
        get the same reply twice, nor have one message move their conversation two steps.
        """
        pseudonym = self._pseudonymizer.pseudonym(message.channel, message.address)
        async with self._locks.hold(pseudonym):
            try:
                try:
                    return await self._handle(message, pseudonym)
                except ConversationNotFound:
                    # The retention purge deleted it between our reading it and storing the
                    # turn (the purge does not wait for a person's lock): the message starts
                    # a new conversation, as it would have a moment later.
                    return await self._handle(message, pseudonym)
            except AlreadyHandled:  # by another instance, at the same moment
                return _ignored(message)

    async def _handle(self, message: InboundMessage, pseudonym: str) -> TurnOutcome:
        now = self._clock()
        delivery = self._delivery(message)
        conversation, handled = await self._store.find_for_turn(
            message.channel, pseudonym, delivery
        )
        if handled:
            return _ignored(message)
        if message.is_quick_exit:
            return await self._wipe(pseudonym, message, conversation, delivery)

        state = FlowState.from_dict(conversation.flow_state) if conversation else FlowState()
        if conversation is not None and state.expires_at is not None and now >= state.expires_at:
            # Gone quiet past the session: close it and let this message start afresh.
            await self._store.close(conversation.id, EXPIRED)
            await self._left([conversation.id], "expired")
            await self._count(conversation, "expired")
            conversation, state = None, FlowState(language=state.language)

        assert message.kind is not None  # noqa: S101 -- only quick exit has no kind
        inbound = Inbound(message.kind, now, message.text, channel=message.channel)
        if conversation is not None:
            script = await self._library.for_conversation(conversation.script)
        else:
            script, script_ref = self._library.current, self._library.current_ref
        result = step(script, state, inbound)
        if Effect.WIPE in result.effects:
            return await self._wipe(pseudonym, message, conversation, delivery)

        stored = conversation is not None
        if conversation is None:  # stored with its first turn, by _record
            conversation = self._store.draft(
                channel=message.channel,
                pseudonym=pseudonym,
                reply_address=message.address,
                script=script_ref,
                flow_state=result.state.to_dict(),
            )
            logger.info("conversation %s started on %s", conversation.alias, message.channel)
        said = []
        if message.kind is not InboundKind.START or message.provider_message_id:
            kept = RECEIPT_PLACEHOLDER if result.secret_inbound else message.text
            said.append(NewMessage("in", "person", kept, message.provider_message_id))
        return await self._record(
            conversation, script, result, said, stored=stored, delivery=delivery
        )

    def _delivery(self, message: InboundMessage) -> str | None:
        """How the ledger names this delivery; None where there is no ledger or no id."""
        if self._ledger is None or message.external_id is None:
            return None
        return self._ledger.delivery(message.channel, message.external_id)

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
        script = await self._library.for_conversation(conversation.script)
        result = step(script, state, timer)
        outcome = await self._record(conversation, script, result, [])
        if conversation.reply_address is None:
            return None
        return TimerDelivery(conversation.channel, conversation.reply_address, outcome)

    async def forget(self, channel: str, address: str) -> None:
        """The person is gone for good: wipe what they left.

        A web page closed (a web chat cannot be resumed, since the browser keeps nothing, so
        keeping it would only keep content; this also covers a quick exit whose frame was
        lost as the page navigated away), or a provider said the person blocked the bot or
        opted out. Providers that keep copies are asked to delete them; the person's own
        chat cannot be reached any more.
        """
        pseudonym = self._pseudonymizer.pseudonym(channel, address)
        async with self._locks.hold(pseudonym):
            active = await self._store.find_active(channel, pseudonym)
            ids = await self._store.ids_for(channel, pseudonym)
            await self._left(ids, "exit")
            copies = await self._provider_copies(channel, ids)
            for conversation_id in ids:
                await self._store.wipe(conversation_id)
            if copies.kept and self._deletions is not None:
                await self._deletions.request(channel, list(copies.kept))
            if active is not None:
                await self._count(active, "left")

    # -- the advocate's side ----------------------------------------------------------------

    async def send_from_advocate(self, conversation_id: str, text: str) -> AdvocateDelivery:
        """Store an advocate's message (queued for providers) while the person is still there.

        Raises:
            PersonUnavailable: the conversation is gone, ended, or no longer with a person.
        """
        async with self._hold_conversation(conversation_id) as conversation:
            queued = conversation.channel in self._outbox_channels
            state = FlowState.from_dict(conversation.flow_state)
            await self._store.record_turn(
                conversation.id,
                flow_state=conversation.flow_state,
                status=ACTIVE,
                messages=[NewMessage("out", "advocate", text)],
                timer_due_at=state.next_timer(),
                outbox=[OutboundMessage(text, safe_window_only=True).to_json()] if queued else (),
            )
            return AdvocateDelivery(conversation.channel, conversation.reply_address, queued)

    async def finish_handoff(self, conversation_id: str, farewell: str | None) -> AdvocateDelivery:
        """The advocate closed the conversation: end it, with a last message only if chosen."""
        async with self._hold_conversation(conversation_id) as conversation:
            queued = conversation.channel in self._outbox_channels
            state = replace(
                FlowState.from_dict(conversation.flow_state),
                ended=True,
                with_human=False,
                deadline=None,
            )
            said = [NewMessage("out", "advocate", farewell)] if farewell else []
            await self._store.record_turn(
                conversation.id,
                flow_state=state.to_dict(),
                status=ENDED,
                messages=said,
                outbox=[OutboundMessage(farewell, safe_window_only=True).to_json()]
                if farewell and queued
                else (),
            )
            await self._count(conversation, "with_advocate")
            return AdvocateDelivery(conversation.channel, conversation.reply_address, queued)

    async def divert_after_hours(self, conversation_id: str) -> TimerDelivery | None:
        """Nobody took the handoff in time: the bot speaks again from the after-hours node."""
        try:
            async with self._hold_conversation(conversation_id) as conversation:
                state = FlowState.from_dict(conversation.flow_state)
                script = await self._library.for_conversation(conversation.script)
                result = self._after_hours(script, StepResult(state))
                outcome = await self._record(conversation, script, result, [])
        except PersonUnavailable:
            return None
        if conversation.reply_address is None:
            return None
        return TimerDelivery(conversation.channel, conversation.reply_address, outcome)

    @asynccontextmanager
    async def _hold_conversation(self, conversation_id: str) -> AsyncIterator[ConversationView]:
        """The conversation, under its person's lock, if it is still with a human."""
        try:
            first = await self._store.get(conversation_id)
        except LookupError:  # wiped: not found, or its key already shredded
            raise PersonUnavailable(conversation_id) from None
        async with self._locks.hold(first.pseudonym):
            try:  # reload under the lock: the person may have left meanwhile
                conversation = await self._store.get(conversation_id)
            except LookupError:
                raise PersonUnavailable(conversation_id) from None
            with_human = bool(conversation.flow_state.get("with_human"))
            if conversation.status != ACTIVE or not with_human:
                raise PersonUnavailable(conversation_id)
            yield conversation

    async def _count(
        self, conversation: ConversationView, outcome: str, language: str | None = None
    ) -> None:
        """Count a conversation that finished, for the statistics (no id, no content)."""
        if language is None:
            script = await self._library.for_conversation(conversation.script)
            language = conversation.flow_state.get("language") or script.base_language
        await self._counted(
            lambda stats: stats.conversation_finished(
                channel=conversation.channel,
                language=str(language),
                outcome=outcome,
                started_at=conversation.created_at,
            )
        )

    async def _counted(self, count: Callable[[StatisticsStore], Awaitable[None]]) -> None:
        """Count something, after what it counts is done; a failure only costs the count.

        Statistics must never stand between a person and a wipe or a reply.
        """
        if self._statistics is None:
            return
        try:
            await count(self._statistics)
        except Exception:
            logger.exception("statistics: a count was lost")

    def _after_hours(self, script: Script, result: StepResult) -> StepResult:
        """Keep what was said, then go on from the script's after-hours node."""
        if script.after_hours is None:
            return replace(result, state=replace(result.state, with_human=False))
        moved = divert(script, result.state, script.after_hours, self._clock())
        return replace(
            moved,
            replies=result.replies + moved.replies,
            effects=result.effects | moved.effects,
            handoff_priority=result.handoff_priority,
        )

    async def _left(self, conversation_ids: Sequence[str], reason: str) -> None:
        if self._handoffs is not None and conversation_ids:
            await self._handoffs.person_left(conversation_ids, reason)

    async def _record(
        self,
        conversation: ConversationView,
        script: Script,
        result: StepResult,
        said: list[NewMessage],
        *,
        stored: bool = True,
        delivery: str | None = None,
    ) -> TurnOutcome:
        """Store the turn, and the ``delivery`` that caused it.

        ``stored`` False: ``conversation`` is a draft, stored with the turn.
        """
        language = result.state.language or script.base_language
        ticket = None
        if Effect.HANDOFF in result.effects:
            priority = _priority(result)
            if not stored:  # the queue refers to the conversation: store it first
                await self._store.start_with_turn(
                    conversation, flow_state=conversation.flow_state, status=ACTIVE, messages=()
                )
                stored = True
            if self._handoffs is not None:
                ticket = await self._handoffs.requested(conversation, priority)
            if ticket is None:
                result = self._after_hours(script, result)
            await self._counted(lambda stats: stats.handoff_requested(after_hours=ticket is None))
        replies = await self._fill_slots(script, result.replies, language, conversation)
        status_frames: tuple[dict[str, Any], ...] = ()
        if ticket is not None and conversation.channel in QUEUE_UPDATE_CHANNELS:
            line = queue_text(script, ticket, language)
            if conversation.channel in self._outbox_channels:
                replies = (*replies, Reply(line))
            else:
                status_frames = (queue_frame(ticket, line),)
        turn = said + [NewMessage("out", "bot", r.record_as or r.text) for r in replies]
        if Effect.EXPIRE in result.effects:
            status = EXPIRED
        elif result.state.ended:
            status = ENDED
        else:
            status = ACTIVE
        queued = conversation.channel in self._outbox_channels
        outbox = [OutboundMessage(r.text, r.options).to_json() for r in replies] if queued else []
        store_turn = (
            partial(self._store.record_turn, conversation.id)
            if stored
            else partial(self._store.start_with_turn, conversation)
        )
        await store_turn(
            flow_state=result.state.to_dict(),
            status=status,
            messages=turn,
            timer_due_at=result.state.next_timer(),
            outbox=outbox,
            delivery=delivery,
        )
        if status != ACTIVE and conversation.status == ACTIVE:
            await self._count(
                conversation,
                "expired" if status == EXPIRED else "completed",
                result.state.language or script.base_language,
            )
        if Effect.EMERGENCY in result.effects:
            logger.warning("conversation %s used an emergency keyword", conversation.alias)
        was_with_human = bool(conversation.flow_state.get("with_human"))
        if Effect.DURESS in result.effects:
            # Someone may be reading over the person's shoulder: keep answering innocently,
            # but destroy everything said so far, now.
            logger.warning("conversation %s is frozen: duress word", conversation.alias)
            copies = await self._provider_copies(conversation.channel, [conversation.id])
            await self._store.shred_history(conversation.id, _after_duress(result.state))
            if conversation.reply_address is not None:
                await self._erase(conversation.channel, conversation.reply_address, copies)
            if was_with_human:
                await self._left([conversation.id], "duress")
        elif was_with_human and status != ACTIVE:
            await self._left([conversation.id], "expired")
        elif Effect.RELAY in result.effects and self._handoffs is not None:
            await self._handoffs.person_wrote(conversation.id)
        return TurnOutcome(
            conversation_id=conversation.id,
            replies=() if queued else replies,
            ended=status != ACTIVE,
            handoff_priority=result.handoff_priority,
            status=status_frames,
        )

    async def message(self, conversation: ConversationView | None, name: str) -> str:
        """One of the conversation's script messages, in the person's language.

        Without the conversation (already gone), the live script's base language.
        """
        if conversation is None:
            return self._library.current.message(name, self._library.current.base_language)
        script = await self._library.for_conversation(conversation.script)
        language = conversation.flow_state.get("language") or script.base_language
        return script.message(name, language)

    async def queue_text(self, conversation: ConversationView, ticket: QueueTicket) -> str:
        """'You are number 2 in line…' in the person's language, from their script."""
        script = await self._library.for_conversation(conversation.script)
        return queue_text(script, ticket, conversation.flow_state.get("language"))

    async def _fill_slots(
        self,
        script: Script,
        replies: tuple[Reply, ...],
        language: str,
        conversation: ConversationView,
    ) -> tuple[Reply, ...]:
        channel = conversation.channel
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
                filled += resource_replies(script, entries, language)
            elif isinstance(slot, ReportSlot):
                code = await self._reports.submit(channel, slot.fields)
                await self._counted(
                    lambda stats: stats.report_made(channel=channel, category="new")
                )
                filled.append(receipt_reply(script, code, language))
                logger.info("an anonymous report was submitted on %s", channel)
            elif isinstance(slot, ReportAdditionSlot):
                added = await self._add_to_report(slot, conversation.pseudonym)
                if added:
                    await self._counted(
                        lambda stats: stats.report_made(channel=channel, category="addition")
                    )
                filled.append(addition_reply(script, added, language))
            else:
                filled.append(reply)
        return tuple(filled)

    async def _add_to_report(self, slot: ReportAdditionSlot, source: str) -> bool:
        """Add to a report by its code, unless this person (or everyone) guessed too often."""
        now = self._clock()
        if not self._receipt_attempts.allowed(source, now):
            # Same slow hash, same answer: a limit must look exactly like a wrong code.
            await self._reports.add_to("", slot.text)
            logger.warning("receipt codes: too many wrong codes; this one was not checked")
            return False
        added = await self._reports.add_to(slot.code, slot.text)
        if not added:
            self._receipt_attempts.failed(source, now)
        return added

    async def _wipe(
        self,
        pseudonym: str,
        message: InboundMessage,
        active: ConversationView | None,
        delivery: str | None = None,
    ) -> TurnOutcome:
        """Wipe every conversation this person has on this channel, not just the live one.

        Someone who types EXIT or DELETE after a session expired, or after an earlier one
        ended, means all of it. ``delivery`` is recorded once the wipe is done.
        """
        channel = message.channel
        conversation_ids = await self._store.ids_for(channel, pseudonym)
        await self._left(conversation_ids, "exit")
        copies = await self._provider_copies(channel, conversation_ids, message.provider_message_id)
        for conversation_id in conversation_ids:
            await self._store.wipe(conversation_id)
        await self._erase(channel, message.address, copies)
        if active is not None:
            await self._count(active, "quick_exit")
        if delivery is not None and self._ledger is not None:
            await self._ledger.record(delivery)
        # No alias here: the conversation is gone and nothing should tie this line to it.
        logger.info("a conversation on %s was wiped at the person's request", channel)
        return TurnOutcome(conversation_id=None, wiped=True)

    async def _provider_copies(
        self, channel: str, conversation_ids: Sequence[str], latest: str | None = None
    ) -> ProviderCopies:
        """What providers still show or keep of these conversations; read before they go."""
        provider = self._channels.get(channel)
        shown: list[str] = [latest] if latest else []
        kept: list[str] = list(shown)
        if provider is None:
            return ProviderCopies((), ())
        for conversation_id in conversation_ids:
            if provider.can_delete_history:
                since = self._clock() - provider.history_window
                shown += await self._store.erasable_history(conversation_id, since)
            if provider.keeps_provider_copies:
                kept += await self._store.erasable_history(conversation_id, EPOCH)
        return ProviderCopies(
            tuple(shown) if provider.can_delete_history else (),
            tuple(sorted(set(kept))) if provider.keeps_provider_copies else (),
        )

    async def _erase(self, channel: str, address: str, copies: ProviderCopies) -> None:
        """Delete the chat's copy (Telegram) and queue the provider's (Twilio) for deletion."""
        provider = self._channels.get(channel)
        if provider is not None and copies.shown:
            await provider.erase_history(address, list(copies.shown))
        if copies.kept and self._deletions is not None:
            await self._deletions.request(channel, list(copies.kept))


@dataclass(frozen=True, slots=True)
class ProviderCopies:
    """Provider message ids to delete: from the person's chat, and from the provider."""

    shown: tuple[str, ...]
    kept: tuple[str, ...]


def _priority(result: StepResult) -> str:
    """Risk first: an emergency, a script's ``risk: high`` or a high handoff node."""
    state = result.state
    if (
        result.handoff_priority == "high"
        or "emergency" in state.flags
        or state.results.get("risk") == "high"
    ):
        return "high"
    return "normal"


def _after_duress(state: FlowState) -> dict[str, Any]:
    """All a conversation keeps after the duress word: frozen, flagged, its language."""
    kept = FlowState(
        language=state.language, frozen=True, flags=("duress",), expires_at=state.expires_at
    )
    return kept.to_dict()


def queue_text(script: Script, ticket: QueueTicket, language: str | None) -> str:
    """'You are number 2 in line…' in the person's language."""
    template = script.message("queue_position", language or script.base_language)
    return template.replace("{position}", str(ticket.position)).replace(
        "{minutes}", str(ticket.minutes)
    )


def queue_frame(ticket: QueueTicket, text: str) -> dict[str, Any]:
    """The web chat's status frame for a place in line."""
    return {
        "type": "status",
        "state": "waiting",
        "position": ticket.position,
        "wait_minutes": ticket.minutes,
        "text": text,
    }


async def deliver(delivery: TimerDelivery, channels: Mapping[str, Channel]) -> None:
    """Send what a timer or a diverted handoff produced to a live channel (web chat).

    Provider channels have nothing to send here: their replies were queued in the outbox.
    """
    channel = channels.get(delivery.channel)
    if channel is None:
        return
    try:
        for reply in delivery.outcome.replies:
            await channel.send(delivery.address, OutboundMessage(reply.text, reply.options))
        if delivery.outcome.ended:
            await channel.conversation_ended(delivery.address)
    except RecipientGone:
        pass  # the page was closed: nothing to deliver to, nothing to keep
