"""The handoff service: from "talk to someone" to an advocate's reply, and back.

It implements the conversation service's :class:`bot.service.HandoffHooks` (a person asks
for a human, writes, or leaves) and the advocate's actions (claim, send, note, transfer,
close). Every rule that protects the person lives here, not in the routes: nobody offline
is offered a conversation; a person who left can never be written to; the safe-contact
window is honoured; nothing an advocate sees carries a phone number or chat id.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.safe_window import SAFE_WINDOW_RESULT, check_safe_to_send
from bot.service import (
    ConversationService,
    PersonUnavailable,
    QueueTicket,
    deliver,
    queue_frame,
)
from channels.base import Channel, OutboundMessage, RecipientGone
from channels.webchat.channel import WebChatChannel
from config import Settings
from handoff.events import EventHub
from handoff.rota import expected_on_call
from storage.audit import SYSTEM, Actor, AuditLog
from storage.conversations import ConversationStore, ConversationView, StoredMessage
from storage.handoffs import (
    LEFT,
    UNANSWERED,
    WAITING,
    HandoffEnded,
    HandoffStore,
    HandoffView,
    Note,
    NotHolder,
)
from storage.models import utcnow
from storage.presence import Presence, PresenceStore
from storage.rota import RotaStore
from storage.users import Account

logger = logging.getLogger(__name__)

OUTCOMES = ("supported", "safety_planned", "referred", "information", "disconnected", "other")
DASHBOARD_ROLES = ("advocate", "admin")
MAX_ADVOCATE_MESSAGE = 2000
MAX_NOTE = 4000
DEFAULT_WAIT_MINUTES = 5  # before there is any history to estimate from
# Summary answers longer than this are free text better read in the transcript.
MAX_SUMMARY_VALUE = 60


class NotAllowed(Exception):
    """This account may not see or do this (someone else holds the conversation)."""


class InvalidRequest(ValueError):
    """The request is malformed: an empty message, an unknown outcome, a bad target."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What the script learnt, for the advocate: never an address, never the transcript."""

    language: str | None
    flags: tuple[str, ...]
    answers: Mapping[str, str]
    safe_window: str | None


def notification_text(queue: Sequence[HandoffView]) -> str:
    """The only words a notification ever carries: '2 conversations waiting (high priority)'."""
    count = len(queue)
    noun = "conversation" if count == 1 else "conversations"
    urgent = " (high priority)" if any(h.priority == "high" for h in queue) else ""
    return f"{count} {noun} waiting{urgent}"


class HandoffService:
    """See the module docstring."""

    def __init__(
        self,
        *,
        handoffs: HandoffStore,
        presence: PresenceStore,
        conversations: ConversationService,
        conversation_store: ConversationStore,
        channels: Mapping[str, Channel],
        events: EventHub,
        audit: AuditLog,
        settings: Settings | Callable[[], Settings],
        rota: RotaStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        outcome_tags: Callable[[], Sequence[str]] = lambda: OUTCOMES,
    ) -> None:
        self._handoffs = handoffs
        self._rota = rota
        self._presence = presence
        self._conversations = conversations
        self._store = conversation_store
        self._channels = channels
        self._events = events
        self._audit = audit
        # A callable gives the live settings (administrators change timings while running).
        self._read_settings = settings if callable(settings) else lambda: settings
        self._clock = clock
        # The tags advocates close with: administrators edit them (handoff/admin_settings.py).
        self.outcome_tags = outcome_tags

    @property
    def _settings(self) -> Settings:
        return self._read_settings()

    # -- the person's side (HandoffHooks) ---------------------------------------------------

    async def requested(self, conversation: ConversationView, priority: str) -> QueueTicket | None:
        """Queue the person, or raise their priority; None if nobody is on call at all."""
        existing = await self._handoffs.open_for_conversation(conversation.id)
        if existing is None and not await self._presence.available():
            logger.info("handoff for %s: nobody on call, after hours", conversation.alias)
            return None
        handoff, new = await self._handoffs.open_handoff(
            conversation_id=conversation.id,
            channel=conversation.channel,
            alias=conversation.alias,
            priority=priority,
        )
        if new:
            logger.info("handoff %s queued, %s priority", handoff.id, priority)
        await self._queue_changed(skip=conversation.id)
        return _ticket(await self.position(handoff) or 1, await self._typical_wait())

    async def person_wrote(self, conversation_id: str) -> None:
        """Tell the advocate holding the conversation to fetch what arrived (no content)."""
        handoff = await self._handoffs.open_for_conversation(conversation_id)
        if handoff is not None and handoff.claimed_by is not None:
            self._events.to_user(handoff.claimed_by, {"type": "message", "handoff_id": handoff.id})

    async def person_left(self, conversation_ids: Sequence[str], reason: str) -> None:
        """End their handoffs at once: the advocate sees "contact left" and can send nothing."""
        ended = await self._handoffs.end_for_conversations(conversation_ids, LEFT, reason)
        for handoff in ended:
            logger.info("handoff %s: the contact left", handoff.id)
            if handoff.claimed_by is not None:
                self._events.to_user(
                    handoff.claimed_by,
                    {"type": "contact_left", "handoff_id": handoff.id, "alias": handoff.alias},
                )
        if ended:
            await self._queue_changed(skip=None, exclude=set(conversation_ids))

    # -- the advocate's side ------------------------------------------------------------

    async def list_for(self, account: Account) -> list[HandoffView]:
        """The queue, plus what this advocate holds (admins see everything held)."""
        queue = await self._handoffs.queue()
        held = await self._handoffs.held(None if account.role == "admin" else account.id)
        ended = await self._handoffs.recently_ended(account.id)
        return [*queue, *held, *ended]

    async def position(self, handoff: HandoffView) -> int | None:
        """1 for the next in line; None if not waiting."""
        if handoff.status != WAITING:
            return None
        ids = [h.id for h in await self._handoffs.queue()]
        return ids.index(handoff.id) + 1 if handoff.id in ids else None

    async def get_for(self, handoff_id: str, account: Account) -> HandoffView:
        """A handoff this account may look at: waiting ones, their own, or any for admins."""
        handoff = await self._handoffs.get(handoff_id)
        if account.role == "admin" or handoff.status == WAITING:
            return handoff
        if handoff.claimed_by != account.id:
            raise NotAllowed("another advocate holds this conversation")
        return handoff

    async def summary(self, handoff: HandoffView) -> Summary | None:
        """The script's answers so far; None once the conversation is gone."""
        conversation = await self._conversation(handoff)
        if conversation is None:
            return None
        state = conversation.flow_state
        answers = {
            str(k): str(v)
            for k, v in (state.get("results") or {}).items()
            if k != SAFE_WINDOW_RESULT and len(str(v)) <= MAX_SUMMARY_VALUE
        }
        results = state.get("results") or {}
        return Summary(
            language=state.get("language"),
            flags=tuple(state.get("flags") or ()),
            answers=answers,
            safe_window=results.get(SAFE_WINDOW_RESULT),
        )

    async def claim(self, handoff_id: str, account: Account) -> HandoffView:
        """Take a waiting conversation; see :meth:`HandoffStore.claim_handoff`."""
        handoff = await self._handoffs.claim_handoff(
            handoff_id, account.id, self._settings.advocate_max_conversations
        )
        await self._claimed(handoff, account)
        return handoff

    async def claim_next(self, account: Account) -> HandoffView | None:
        """Take the most urgent waiting conversation, whichever it is; None if none waits."""
        handoff = await self._handoffs.claim_next(
            account.id, self._settings.advocate_max_conversations
        )
        if handoff is None:
            return None
        await self._claimed(handoff, account)
        return handoff

    async def _claimed(self, handoff: HandoffView, account: Account) -> None:
        await self._audit.record(Actor.of(account), "handoff_claimed", handoff.id)
        logger.info("handoff %s claimed", handoff.id)
        await self._tell_person(handoff, "advocate_joined")
        await self._queue_changed(skip=None)

    async def transcript(
        self, handoff_id: str, account: Account, after: int = 0
    ) -> list[StoredMessage]:
        """The conversation so far, for its holder (or an admin). Full reads are audited."""
        handoff = await self.get_for(handoff_id, account)
        if handoff.status == WAITING and account.role != "admin":
            raise NotAllowed("claim the conversation to read it")
        if handoff.conversation_id is None:
            return []
        try:
            messages = await self._store.messages(handoff.conversation_id)
        except LookupError:  # wiped meanwhile
            return []
        if after == 0:
            await self._audit.record(Actor.of(account), "transcript_viewed", handoff.id)
        return [m for m in messages if m.seq > after]

    async def send(self, handoff_id: str, account: Account, text: str) -> None:
        """Relay an advocate's message to the person, if they are still there and it is safe.

        Raises:
            NotHolder: only the advocate holding the conversation may write.
            HandoffEnded: the person left, or the conversation was closed.
            OutsideSafeWindow: the person said it is not safe to write now.
            InvalidRequest: empty or too long.
        """
        text = _text(text, MAX_ADVOCATE_MESSAGE, "message")
        handoff = await self._handoffs.get(handoff_id)
        if not handoff.is_open:
            raise HandoffEnded(handoff.status)
        if handoff.claimed_by != account.id:
            raise NotHolder(handoff_id)
        conversation = await self._conversation(handoff)
        if conversation is None:
            raise HandoffEnded(LEFT)
        check_safe_to_send(
            dict(conversation.flow_state.get("results") or {}),
            self._clock(),
            self._settings.timezone,
        )
        try:
            delivery = await self._conversations.send_from_advocate(conversation.id, text)
        except PersonUnavailable:
            raise HandoffEnded(LEFT) from None
        if not delivery.queued and delivery.address is not None:
            await self._send_live(delivery.channel, delivery.address, text, handoff)

    async def add_note(self, handoff_id: str, account: Account, text: str) -> Note:
        """A private note on a conversation the advocate holds (or any, for an admin)."""
        text = _text(text, MAX_NOTE, "note")
        handoff = await self.get_for(handoff_id, account)
        if handoff.claimed_by != account.id and account.role != "admin":
            raise NotHolder(handoff_id)
        return await self._handoffs.add_note(handoff, account.id, text)

    async def notes(self, handoff_id: str, account: Account) -> list[Note]:
        """The conversation's notes, for whoever may read its transcript."""
        handoff = await self.get_for(handoff_id, account)
        if handoff.status == WAITING and account.role != "admin":
            raise NotAllowed("claim the conversation to read its notes")
        return await self._handoffs.notes(handoff)

    async def transfer(self, handoff_id: str, account: Account, to_user: str, note: str) -> None:
        """Warm transfer: the other advocate gets it with a note; the person is not greeted again.

        Raises:
            InvalidRequest: the target is not an available advocate with room.
        """
        note = _text(note, MAX_NOTE, "note")
        target = next((p for p in await self._presence.available() if p.user_id == to_user), None)
        if target is None or to_user == account.id:
            raise InvalidRequest("transfer to another advocate who is available now")
        if await self._handoffs.count_held(to_user) >= self._settings.advocate_max_conversations:
            raise InvalidRequest(f"{target.username} already holds as many as allowed")
        handoff = await self._handoffs.transfer(handoff_id, account.id, to_user)
        await self._handoffs.add_note(handoff, account.id, note, kind="transfer")
        await self._audit.record(
            Actor.of(account), "handoff_transferred", handoff.id, f"to {target.username}"
        )
        self._events.to_user(
            to_user, {"type": "transferred", "handoff_id": handoff.id, "alias": handoff.alias}
        )
        self._events.to_user(account.id, {"type": "queue"})

    async def close(
        self, handoff_id: str, account: Account, outcome: str, farewell: str | None
    ) -> HandoffView:
        """Finish: tag the outcome; send a last message only if the advocate wrote one."""
        tags = self.outcome_tags()
        if outcome not in tags:
            raise InvalidRequest(f"outcome must be one of {', '.join(tags)}")
        if farewell is not None:
            farewell = _text(farewell, MAX_ADVOCATE_MESSAGE, "message")
        handoff = await self._handoffs.close(handoff_id, account.id, outcome)
        await self._audit.record(Actor.of(account), "handoff_closed", handoff.id, outcome)
        if handoff.conversation_id is None:
            return handoff
        try:
            delivery = await self._conversations.finish_handoff(handoff.conversation_id, farewell)
        except PersonUnavailable:
            return handoff  # they left at the same moment: nothing to say, nothing to send
        if not delivery.queued and delivery.address is not None:
            channel = self._channels.get(delivery.channel)
            if isinstance(channel, WebChatChannel):
                try:
                    if farewell:
                        await self._send_live(delivery.channel, delivery.address, farewell, None)
                    await self._tell_person(handoff, "advocate_left", address=delivery.address)
                    await channel.conversation_ended(delivery.address)
                except RecipientGone:
                    pass
        return handoff

    async def set_available(self, account: Account, available: bool) -> None:
        """The advocate's on-call switch."""
        await self._presence.set_available(account.id, available)
        await self._audit.record(
            Actor.of(account), "availability", account.id, "on" if available else "off"
        )
        self._events.to_roles(("admin",), {"type": "presence"})

    # -- the worker ---------------------------------------------------------------------

    async def tick(self) -> None:
        """Offer, re-offer, escalate and give up on waiting handoffs; drop stale presence."""
        for user_id in await self._presence.expire_stale():
            self._events.to_user(user_id, {"type": "availability", "available": False})
            self._events.to_roles(("admin",), {"type": "presence"})
        now = self._clock()
        settings = self._settings
        available = await self._presence.available()
        for handoff in await self._handoffs.queue():
            waited = now - handoff.created_at
            if not available or waited >= timedelta(minutes=settings.handoff_after_hours_minutes):
                await self._give_up(handoff)
                continue
            escalate_after = timedelta(minutes=settings.handoff_escalate_minutes)
            if waited >= escalate_after and await self._handoffs.mark_escalated(handoff.id):
                logger.info("handoff %s escalated to administrators", handoff.id)
                await self._audit.record(SYSTEM, "handoff_escalated", handoff.id)
                queue = await self._handoffs.queue()
                self._events.to_roles(
                    ("admin",), {"type": "escalated", "text": notification_text(queue)}
                )
            offer_lapsed = handoff.offered_at is None or now - handoff.offered_at >= timedelta(
                seconds=settings.handoff_offer_seconds
            )
            if offer_lapsed:
                await self._offer(handoff, await self._offer_order(available))

    async def _offer_order(self, available: Sequence[Presence]) -> list[str]:
        """Available advocates, those the rota expects on call now first."""
        advocates = [p.user_id for p in available if p.role == "advocate"]
        if self._rota is None:
            return advocates
        expected = expected_on_call(
            await self._rota.shifts(),
            await self._rota.overrides(after=self._clock()),
            self._clock(),
            self._settings.timezone,
        )
        return sorted(advocates, key=lambda user_id: user_id not in expected)

    async def _offer(self, handoff: HandoffView, advocates: list[str]) -> None:
        """Offer to the next advocate who holds nothing and has not been offered it yet."""
        for user_id in advocates:
            if user_id in handoff.offered_before or await self._handoffs.count_held(user_id):
                continue
            if await self._handoffs.offer(handoff.id, user_id):
                queue = await self._handoffs.queue()
                self._events.to_user(
                    user_id,
                    {"type": "offer", "handoff_id": handoff.id, "text": notification_text(queue)},
                )
            return
        if handoff.offered_to is not None or handoff.offered_at is None:
            await self._handoffs.withdraw_offer(handoff.id)  # start the round again

    async def _give_up(self, handoff: HandoffView) -> None:
        """Nobody took it: the person gets the after-hours message instead of silence."""
        ended = await self._handoffs.end_handoff(handoff.id, UNANSWERED, "after_hours")
        if ended is None or ended.conversation_id is None:
            return
        logger.info("handoff %s unanswered: after-hours message sent", handoff.id)
        delivery = await self._conversations.divert_after_hours(ended.conversation_id)
        if delivery is not None:
            await deliver(delivery, self._channels)
        await self._queue_changed(skip=None)

    # -- helpers ------------------------------------------------------------------------

    async def _conversation(self, handoff: HandoffView) -> ConversationView | None:
        if handoff.conversation_id is None:
            return None
        try:
            return await self._store.get(handoff.conversation_id)
        except LookupError:
            return None

    async def _typical_wait(self) -> float:
        """Minutes from asking to being claimed, lately (the median of recent claims)."""
        waits = await self._handoffs.recent_claim_waits()
        return statistics.median(waits) / 60 if waits else DEFAULT_WAIT_MINUTES

    async def _queue_changed(self, skip: str | None, exclude: set[str] | None = None) -> None:
        """Tell dashboards, and tell each waiting web-chat person their new place in line."""
        queue = await self._handoffs.queue()
        self._events.to_roles(
            DASHBOARD_ROLES,
            {"type": "queue", "waiting": len(queue), "text": notification_text(queue)},
        )
        typical = await self._typical_wait()
        for position, handoff in enumerate(queue, start=1):
            if handoff.channel != WebChatChannel.name or handoff.conversation_id in (
                {skip} | (exclude or set())
            ):
                continue
            conversation = await self._conversation(handoff)
            if conversation is None or conversation.reply_address is None:
                continue
            ticket = _ticket(position, typical)
            text = await self._conversations.queue_text(conversation, ticket)
            await self._send_frame(conversation.reply_address, queue_frame(ticket, text))

    async def _tell_person(
        self, handoff: HandoffView, message: str, address: str | None = None
    ) -> None:
        """Status for a web-chat person (advocate joined / left); phones get nothing extra."""
        if handoff.channel != WebChatChannel.name:
            return
        conversation = await self._conversation(handoff)
        if address is None:
            if conversation is None or conversation.reply_address is None:
                return
            address = conversation.reply_address
        state = "advocate_joined" if message == "advocate_joined" else "advocate_left"
        text = await self._conversations.message(conversation, message)
        await self._send_frame(address, {"type": "status", "state": state, "text": text})

    async def _send_frame(self, address: str, frame: dict[str, Any]) -> None:
        channel = self._channels.get(WebChatChannel.name)
        if isinstance(channel, WebChatChannel):
            # A closed page raises RecipientGone; its own handler wipes the conversation.
            with contextlib.suppress(RecipientGone):
                await channel.send_frame(address, frame)

    async def _send_live(
        self, channel_name: str, address: str, text: str, handoff: HandoffView | None
    ) -> None:
        channel = self._channels.get(channel_name)
        if channel is None:
            return
        try:
            if isinstance(channel, WebChatChannel):
                frame = {"type": "message", "text": text, "options": [], "from": "advocate"}
                await channel.send_frame(address, frame)
            else:
                await channel.send(address, OutboundMessage(text))
        except RecipientGone:
            if handoff is not None and handoff.conversation_id is not None:
                await self.person_left([handoff.conversation_id], "exit")
            raise HandoffEnded(LEFT) from None


def _ticket(position: int, typical_minutes: float) -> QueueTicket:
    """A place in line with a rough wait: those ahead, times the typical wait."""
    return QueueTicket(position=position, minutes=max(1, round(typical_minutes * position)))


def _text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"the {what} is empty")
    if len(value) > limit:
        raise InvalidRequest(f"the {what} is longer than {limit} characters")
    return value.strip()
