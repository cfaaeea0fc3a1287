"""What the conversation store hands out and raises: plain values, never rows or ciphertext.

Its own module because the rows of a batch of turns (storage/turn_rows.py) need these too,
and the store (storage/conversations.py), which uses those rows, re-exports them: one
vocabulary, no import cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACTIVE = "active"
ENDED = "ended"
EXPIRED = "expired"


class ConversationNotFound(LookupError):
    """No conversation has this id (it may have been wiped)."""


class ConversationKeyDestroyed(LookupError):
    """The conversation's data key is gone, so its content can no longer be read."""


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A decrypted snapshot of a conversation, safe to hand to domain code."""

    id: str
    channel: str
    pseudonym: str
    status: str
    script: str
    flow_state: dict[str, Any]
    reply_address: str | None
    message_count: int
    created_at: datetime
    last_activity_at: datetime

    @property
    def alias(self) -> str:
        """What advocates call the person: stable per conversation, meaningless outside it."""
        return alias_for(self.id)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to append: who said it and what."""

    direction: str  # "in" from the person, "out" to the person
    sender: str  # "person", "bot" or "advocate"
    text: str
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A decrypted message, in conversation order."""

    seq: int
    direction: str
    sender: str
    text: str
    created_at: datetime


def alias_for(conversation_id: str) -> str:
    """'Contact 7F3A': four hex digits of a hash of the random conversation id."""
    return "Contact " + hashlib.sha256(conversation_id.encode()).hexdigest()[:4].upper()


__all__ = [
    "ACTIVE",
    "ENDED",
    "EXPIRED",
    "ConversationKeyDestroyed",
    "ConversationNotFound",
    "ConversationView",
    "NewMessage",
    "StoredMessage",
    "alias_for",
]
