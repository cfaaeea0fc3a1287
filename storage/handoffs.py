"""The handoff store: the advocates' queue, claims, offers and private notes.

A claim is one conditional UPDATE (``… WHERE status = 'waiting' AND claimed_by IS NULL``),
so two advocates clicking at once cannot both win, on SQLite or PostgreSQL alike. "Take the
next one" picks its row with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so advocates (and
instances) taking the next conversation at the same moment each get a different one
instead of queueing behind each other's lock; SQLite, with one writer at a time, needs
no such clause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import KeyRing
from crypto.cipher import field_aad
from storage.conversations import conversation_cipher
from storage.engine import SessionFactory
from storage.models import Handoff, HandoffNote, User, new_id, utcnow

WAITING = "waiting"
CLAIMED = "claimed"
CLOSED = "closed"  # an advocate finished it
LEFT = "left"  # the person exited, stopped, went quiet or used the duress word
UNANSWERED = "unanswered"  # nobody took it: the person got the after-hours message
OPEN = (WAITING, CLAIMED)
HIGH, NORMAL = "high", "normal"


class HandoffNotFound(LookupError):
    """No handoff has this id."""


class HandoffAlreadyClaimed(Exception):
    """Another advocate holds this conversation."""


class HandoffEnded(Exception):
    """The handoff is over: closed, the contact left, or nobody answered in time."""


class CapacityReached(Exception):
    """The advocate already holds as many conversations as allowed."""


class NotHolder(Exception):
    """Only the advocate holding a conversation may do this."""


@dataclass(frozen=True, slots=True)
class HandoffView:
    """A handoff as domain code sees it; nothing in it identifies the person."""

    id: str
    conversation_id: str | None
    channel: str
    alias: str
    status: str
    priority: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    offered_to: str | None
    offered_at: datetime | None
    offered_before: tuple[str, ...]
    escalated_at: datetime | None
    ended_at: datetime | None
    outcome: str | None

    @property
    def is_open(self) -> bool:
        """Waiting or held: the person may still be reached."""
        return self.status in OPEN


@dataclass(frozen=True, slots=True)
class Note:
    """A decrypted private note."""

    id: str
    author: str | None
    kind: str
    text: str
    created_at: datetime


_URGENCY = case((Handoff.priority == HIGH, 0), else_=1)


class HandoffStore:
    """Intent-named operations on handoffs; see the module docstring."""

    def __init__(
        self,
        sessions: SessionFactory,
        keyring: KeyRing,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._clock = clock

    async def open_handoff(
        self, *, conversation_id: str, channel: str, alias: str, priority: str
    ) -> tuple[HandoffView, bool]:
        """Queue the conversation, or raise the priority of its open handoff.

        Returns the handoff and whether it is new.
        """
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN))
                .with_for_update()
            )
            if row is not None:
                if priority == HIGH:
                    row.priority = HIGH
                return _view(row), False
            row = Handoff(
                id=new_id(),
                conversation_id=conversation_id,
                channel=channel,
                alias=alias,
                status=WAITING,
                priority=priority,
                created_at=self._clock(),
                offered_before="",
            )
            session.add(row)
        return _view(row), True

    async def get(self, handoff_id: str) -> HandoffView:
        """One handoff, whatever its status."""
        async with self._sessions() as session:
            row = await session.get(Handoff, handoff_id)
            if row is None:
                raise HandoffNotFound(handoff_id)
            return _view(row)

    async def open_for_conversation(self, conversation_id: str) -> HandoffView | None:
        """The conversation's waiting or held handoff, if any."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(Handoff).where(
                    Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN)
                )
            )
            return None if row is None else _view(row)

    async def queue(self) -> list[HandoffView]:
        """Waiting handoffs, most urgent first, then longest waiting."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Handoff)
                .where(Handoff.status == WAITING)
                .order_by(_URGENCY, Handoff.created_at, Handoff.id)
            )
            return [_view(r) for r in rows]

    async def held(self, user_id: str | None = None) -> list[HandoffView]:
        """Claimed handoffs (of one advocate, or everyone's), oldest claim first."""
        query = select(Handoff).where(Handoff.status == CLAIMED)
        if user_id is not None:
            query = query.where(Handoff.claimed_by == user_id)
        async with self._sessions() as session:
            rows = await session.scalars(query.order_by(Handoff.claimed_at))
            return [_view(r) for r in rows]

    async def recently_ended(self, user_id: str, limit: int = 10) -> list[HandoffView]:
        """What this advocate held that ended, newest first: so "contact left" stays visible."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Handoff)
                .where(Handoff.claimed_by == user_id, Handoff.status.not_in(OPEN))
                .order_by(Handoff.ended_at.desc())
                .limit(limit)
            )
            return [_view(r) for r in rows]

    async def count_held(self, user_id: str) -> int:
        """How many conversations an advocate holds now."""
        async with self._sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Handoff)
                    .where(Handoff.status == CLAIMED, Handoff.claimed_by == user_id)
                )
                or 0
            )

    async def claim_handoff(self, handoff_id: str, user_id: str, capacity: int) -> HandoffView:
        """Take a waiting conversation. Exactly one of several simultaneous claims wins."""
        if await self.count_held(user_id) >= capacity:
            raise CapacityReached(capacity)
        async with self._sessions.begin() as session:
            won = await self._take(session, handoff_id, user_id)
        view = await self.get(handoff_id)
        if won:
            return view
        if view.status == CLAIMED:
            raise HandoffAlreadyClaimed(handoff_id)
        raise HandoffEnded(view.status)

    async def claim_next(self, user_id: str, capacity: int) -> HandoffView | None:
        """Take the most urgent waiting conversation; None if nobody is waiting."""
        if await self.count_held(user_id) >= capacity:
            raise CapacityReached(capacity)
        while True:
            async with self._sessions.begin() as session:
                handoff_id = await session.scalar(
                    select(Handoff.id)
                    .where(Handoff.status == WAITING, Handoff.claimed_by.is_(None))
                    .order_by(_URGENCY, Handoff.created_at, Handoff.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if handoff_id is None:
                    return None
                won = await self._take(session, handoff_id, user_id)
            if won:
                return await self.get(handoff_id)
            # Someone took that one between our read and our write (SQLite has no row
            # locks): look for the next.

    async def _take(self, session: AsyncSession, handoff_id: str, user_id: str) -> bool:
        """The one conditional UPDATE every claim goes through: True if this caller won."""
        result = await session.execute(
            update(Handoff)
            .where(
                Handoff.id == handoff_id,
                Handoff.status == WAITING,
                Handoff.claimed_by.is_(None),
            )
            .values(status=CLAIMED, claimed_by=user_id, claimed_at=self._clock(), offered_to=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def transfer(self, handoff_id: str, from_user: str, to_user: str) -> HandoffView:
        """Hand a held conversation to another advocate, atomically."""
        return await self._change_held(
            handoff_id, from_user, claimed_by=to_user, claimed_at=self._clock()
        )

    async def close(self, handoff_id: str, user_id: str, outcome: str) -> HandoffView:
        """The holding advocate finishes the conversation with an outcome tag."""
        return await self._change_held(
            handoff_id, user_id, status=CLOSED, outcome=outcome, ended_at=self._clock()
        )

    async def _change_held(self, handoff_id: str, holder: str, **values: object) -> HandoffView:
        """Change a handoff only if ``holder`` still holds it (one conditional UPDATE).

        Raises:
            HandoffEnded: it is over (the person left, or it was closed).
            NotHolder: someone else holds it.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.status == CLAIMED,
                    Handoff.claimed_by == holder,
                )
                .values(**values)
            )
            changed = bool(getattr(result, "rowcount", 0))
        view = await self.get(handoff_id)
        if changed:
            return view
        if not view.is_open:
            raise HandoffEnded(view.status)
        raise NotHolder(handoff_id)

    async def end_for_conversations(
        self, conversation_ids: Sequence[str], status: str, outcome: str
    ) -> list[HandoffView]:
        """The person left (or nobody answered): end their open handoffs, return them."""
        if not conversation_ids:
            return []
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(Handoff)
                    .where(
                        Handoff.conversation_id.in_(conversation_ids),
                        Handoff.status.in_(OPEN),
                    )
                    .with_for_update()
                )
            )
            for row in rows:
                row.status = status
                row.outcome = outcome
                row.ended_at = self._clock()
                row.offered_to = None
            return [_view(r) for r in rows]

    async def end_handoff(self, handoff_id: str, status: str, outcome: str) -> HandoffView | None:
        """End one waiting handoff (nobody answered); None if it was taken or ended meanwhile."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == WAITING)
                .values(status=status, outcome=outcome, ended_at=self._clock(), offered_to=None)
            )
            if not getattr(result, "rowcount", 0):
                return None
        return await self.get(handoff_id)

    async def offer(self, handoff_id: str, user_id: str) -> bool:
        """Offer a waiting conversation to one advocate; False if it is no longer waiting."""
        async with self._sessions.begin() as session:
            row = await session.get(Handoff, handoff_id, with_for_update=True)
            if row is None or row.status != WAITING:
                return False
            before = row.offered_before.split()
            row.offered_to = user_id
            row.offered_at = self._clock()
            row.offered_before = " ".join(dict.fromkeys([*before, user_id]))
            return True

    async def withdraw_offer(self, handoff_id: str) -> None:
        """Nobody new to offer it to: leave it in the queue for anyone to claim."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(offered_to=None, offered_at=self._clock(), offered_before="")
            )

    async def mark_escalated(self, handoff_id: str) -> bool:
        """Record that supervisors were alerted; False if already done or no longer waiting."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.status == WAITING,
                    Handoff.escalated_at.is_(None),
                )
                .values(escalated_at=self._clock())
            )
            return bool(getattr(result, "rowcount", 0))

    async def recent_claim_waits(self, limit: int = 20) -> list[float]:
        """Seconds from request to claim of the latest claims, for a rough wait estimate."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Handoff.created_at, Handoff.claimed_at)
                .where(Handoff.claimed_at.is_not(None))
                .order_by(Handoff.claimed_at.desc())
                .limit(limit)
            )
            return [
                (claimed - created).total_seconds()
                for created, claimed in rows
                if claimed is not None
            ]

    async def add_note(
        self, handoff: HandoffView, author_id: str, text: str, kind: str = "note"
    ) -> Note:
        """Store a private note under the conversation's key: it goes when the person does."""
        if handoff.conversation_id is None:
            raise HandoffEnded(handoff.status)
        note_id = new_id()
        now = self._clock()
        async with self._sessions.begin() as session:
            cipher = await conversation_cipher(session, self._keyring, handoff.conversation_id)
            session.add(
                HandoffNote(
                    id=note_id,
                    handoff_id=handoff.id,
                    conversation_id=handoff.conversation_id,
                    author_id=author_id,
                    kind=kind,
                    body=cipher.seal_text(text, field_aad("handoff_notes", "body", note_id)),
                    created_at=now,
                )
            )
            author = await session.scalar(select(User.username).where(User.id == author_id))
        return Note(note_id, author, kind, text, now)

    async def notes(self, handoff: HandoffView) -> list[Note]:
        """The conversation's notes, oldest first; none once the conversation is gone."""
        if handoff.conversation_id is None:
            return []
        async with self._sessions() as session:
            cipher = await conversation_cipher(session, self._keyring, handoff.conversation_id)
            rows = await session.execute(
                select(HandoffNote, User.username)
                .outerjoin(User, User.id == HandoffNote.author_id)
                .where(HandoffNote.conversation_id == handoff.conversation_id)
                .order_by(HandoffNote.created_at, HandoffNote.id)
            )
            return [
                Note(
                    note.id,
                    username,
                    note.kind,
                    cipher.open_text(note.body, field_aad("handoff_notes", "body", note.id)),
                    note.created_at,
                )
                for note, username in rows
            ]


def _view(row: Handoff) -> HandoffView:
    return HandoffView(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        alias=row.alias,
        status=row.status,
        priority=row.priority,
        created_at=row.created_at,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        offered_to=row.offered_to,
        offered_at=row.offered_at,
        offered_before=tuple(row.offered_before.split()),
        escalated_at=row.escalated_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
    )
