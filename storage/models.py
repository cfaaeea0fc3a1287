"""Tables. Every column that could identify a person or carry what they said is encrypted.

Identifiers are random (never sequential), so a row id says nothing about volume or order
(ids made at the same moment share a random prefix, so that they sit together in the
indexes: see storage/ids.py), and each encrypted value is bound to its table, column and
row id through the AES-GCM associated data (see :func:`crypto.field_aad`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crypto import EncryptedText, SealedText
from storage.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The one clock the stores use; tests inject their own where time matters."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes: a timestamp without a zone is a bug waiting to happen."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """SQLite drops the zone on the way in; put UTC back on the way out."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying a naming convention so migrations name constraints alike."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Conversation(Base):
    """One person's contact through one channel, from first message to end or wipe."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    # HMAC of (channel, address): finds the person's conversation without storing who they are.
    pseudonym: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    script: Mapped[str] = mapped_column(String(64))
    reply_address: Mapped[SealedText | None] = mapped_column(EncryptedText)
    flow_state: Mapped[SealedText] = mapped_column(EncryptedText)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the flow must be woken (a wait's timeout or session expiry); in clear so the
    # timer worker can find due conversations without decrypting anything.
    timer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_conversations_pseudonym_status", "pseudonym", "status"),)


class ConversationKey(Base):
    """A conversation's data key, wrapped by the master key.

    Kept in its own table so that destroying it (crypto-shredding) is one small delete,
    after which every encrypted value of the conversation is noise.
    """

    __tablename__ = "conversation_keys"

    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    """One message in a conversation; the body is encrypted under the conversation's key."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    sender: Mapped[str] = mapped_column(String(16))
    body: Mapped[SealedText] = mapped_column(EncryptedText)
    # The provider's id for an inbound message (a Telegram message_id), kept so the chat's
    # copy can be deleted on quick exit. An id, never content.
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Statuses of outbox rows and provider deletions. Here, beside the tables, so every store can
# name them (the outbox store imports the conversation store, so it cannot be the home).
PENDING, SENDING, SENT, FAILED, UNCONFIRMED = (
    "pending", "sending", "sent", "failed", "unconfirmed",
)  # fmt: skip


class OutboxItem(Base):
    """A message waiting to be delivered by a provider (Twilio, Telegram).

    Written in the same transaction as the turn that produced it, so a crash can neither
    lose a reply nor send one for a turn that was never stored. Deleted with the
    conversation, so nothing queued is sent after a quick exit, STOP or wipe.
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    body: Mapped[SealedText] = mapped_column(EncryptedText)
    # pending -> sending -> sent | failed | unconfirmed (in flight when the process died)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # A conversation's rows in order: is an earlier one still waiting? (migration 0012)
    __table_args__ = (Index("ix_outbox_conversation_id_seq", "conversation_id", "seq"),)


# Provider ids per deletion job. A purge queues thousands of ids at once, and a row per id
# was most of its time (docs/benchmarks.md); the outbox worker works through one job's ids
# per round, as many as it sent one request each for before.
IDS_PER_DELETION_JOB = 50
# Between the ids of one job. Provider ids are letters and digits (Twilio's SIDs).
DELETION_ID_SEPARATOR = " "


class ProviderDeletion(Base):
    """A request that a provider delete its copies of up to ``IDS_PER_DELETION_JOB`` messages.

    Outlives the wiped conversation on purpose, and holds nothing personal: Twilio deletes
    by message SID alone. ``provider_ids`` are separated by ``DELETION_ID_SEPARATOR``.
    """

    __tablename__ = "provider_deletions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    provider_ids: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedInbound(Base):
    """Provider message ids already handled, so a redelivered webhook is processed once.

    Keyed by a keyed hash of (channel, provider id): the ids themselves are not kept.
    """

    __tablename__ = "processed_inbound"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Report(Base):
    """An anonymous incident report, readable only with its own data key.

    Reports outlive the conversation that made them (the person chose to leave them), so
    they carry their own wrapped key instead of the conversation's.
    """

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # argon2id digest of the receipt code: the only way back to the report.
    receipt_digest: Mapped[str] = mapped_column(String(64), unique=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    body: Mapped[SealedText] = mapped_column(EncryptedText)
    channel: Mapped[str] = mapped_column(String(16))
    additions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Resource(Base):
    """A place that can help: public directory information, so stored in clear."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), index=True)
    areas: Mapped[str] = mapped_column(String(1000))  # comma-separated; "*" serves everywhere
    languages: Mapped[str] = mapped_column(String(100))  # comma-separated codes
    phone: Mapped[str] = mapped_column(String(40))
    hours: Mapped[str] = mapped_column(String(100))


class User(Base):
    """An advocate or administrator account for the dashboard."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Two-factor: the TOTP secret sealed under a key derived from the master key, and the
    # last time step accepted, so a code seen over someone's shoulder cannot be replayed.
    totp_secret: Mapped[SealedText | None] = mapped_column(EncryptedText)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Lockout after repeated failures: the count since the last success, and until when.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On call: the advocate's own switch, and the last heartbeat from an open dashboard.
    # Only both together make someone available: a closed laptop stops the heartbeat.
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DashboardSession(Base):
    """A signed-in dashboard session. Only a hash of the cookie's token is stored."""

    __tablename__ = "dashboard_sessions"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Handoff(Base):
    """A person waiting for, or talking with, an advocate.

    Outlives its conversation on purpose (``conversation_id`` becomes NULL when the
    conversation is wiped): the advocate must see "contact left", and statistics need the
    times. It holds nothing personal: an alias, a channel, a priority and timestamps.
    """

    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    alias: Mapped[str] = mapped_column(String(16))
    # waiting -> claimed -> closed; or left (the person exited) / unanswered (after hours)
    status: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[str] = mapped_column(String(8))  # "high" sorts before "normal"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offered_to: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL")
    )
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Everyone offered so far, space-separated user ids, so a re-offer goes to someone new.
    offered_before: Mapped[str] = mapped_column(String(2000), default="")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))


class HandoffNote(Base):
    """An advocate's private note, sealed under the conversation's key.

    Deleted with the conversation, so a wipe or expiry takes the notes with it.
    """

    __tablename__ = "handoff_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    handoff_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("handoffs.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))  # "note" or "transfer"
    body: Mapped[SealedText] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CannedResponse(Base):
    """A ready answer advocates can insert; written by admins, public wording only."""

    __tablename__ = "canned_responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    language: Mapped[str] = mapped_column(String(8), index=True)
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RotaShift(Base):
    """A weekly on-call shift, in the service's time zone."""

    __tablename__ = "rota_shifts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_minute: Mapped[int] = mapped_column(Integer)  # minutes after midnight
    end_minute: Mapped[int] = mapped_column(Integer)  # may be <= start: runs past midnight


class RotaOverride(Base):
    """A one-off change to the rota: someone on call (or off) between two instants."""

    __tablename__ = "rota_overrides"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_call: Mapped[bool] = mapped_column(Boolean)


class ServiceKey(Base):
    """A purpose key (pseudonyms, receipt digests, …), wrapped by the master key.

    Stored so that it survives a master-key rotation: only its wrapping changes.
    """

    __tablename__ = "service_keys"

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what to which record: append-only (no store method updates or deletes it).

    ``target`` is a handoff, report or user id, never content or an address.
    """

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # the username then, kept if renamed
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(200))


class ScriptVersion(Base):
    """One numbered version of the service's script, as an administrator published it.

    Scripts are the service's own words, not anything a person said, so they are kept in
    clear. Rows are never changed after publishing except to record an approval; a rollback
    publishes an old text again as a new number, so the history only grows.
    """

    __tablename__ = "script_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    script: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(500))
    # published, or pending while a second administrator's approval is awaited
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(32))  # user id; None: shipped
    created_by_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by_name: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("script", "number"),)


class ScriptDraft(Base):
    """The administrators' working copy of a script: may be invalid, is never run."""

    __tablename__ = "script_drafts"

    script: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    updated_by_name: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatCount(Base):
    """How many of something were counted on one day: one dimension at a time.

    Only separate counts per dimension (channel, language, outcome, hour of day, …) are
    kept, never a row per conversation, so the statistics cannot be joined back into a
    description of one person's contact. No id, no content, no address.
    """

    __tablename__ = "stat_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)  # in TIMEZONE
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class AdminSetting(Base):
    """A setting an administrator changed in the dashboard; overrides the configuration."""

    __tablename__ = "admin_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_by_name: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


metadata = Base.metadata
