"""What every channel provides, and the messages that cross between channels and the bot.

A channel authenticates and parses what arrives (``parse_inbound``), and delivers what the
service says (``send``). Capability flags let the bot and the dashboard adapt, e.g. numbered
choices where there are no buttons, without knowing which channel they are talking to.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from bot.engine import InboundKind, ReplyOption


class ChannelError(Exception):
    """A channel could not do what was asked."""


class InvalidInbound(ChannelError):
    """What arrived is not a message this channel understands; the text says why."""


class RecipientGone(ChannelError):
    """The person is no longer reachable on this channel (left, closed the page, blocked)."""


class DeliveryError(ChannelError):
    """A provider refused or failed a delivery.

    ``permanent`` failures (a bad number, a malformed request) are not retried; others are,
    after ``retry_after`` seconds when the provider said how long to wait.
    """

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """Something a person did, in channel-neutral form.

    ``address`` is what the channel needs to reply (a phone number, chat id or web-chat
    session); it is pseudonymised and encrypted before anything is stored.
    """

    channel: str
    address: str
    kind: InboundKind | None  # None for the web chat's exit button: not an engine event
    text: str = ""
    external_id: str | None = None  # provider's delivery id (MessageSid, update_id): dedupe
    provider_message_id: str | None = None  # the chat's id for this message, for deletion

    @property
    def is_quick_exit(self) -> bool:
        """The person pressed a quick-exit control (not the EXIT keyword, which the bot sees)."""
        return self.kind is None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message for the person, with choices where the script offers them."""

    text: str
    options: Sequence[ReplyOption] = field(default_factory=tuple)
    # Not an answer to what the person just said (an advocate wrote): it may only leave
    # inside the safe-contact window the person gave, even when a retry runs late.
    safe_window_only: bool = False

    def to_json(self) -> str:
        """The form queued (encrypted) in the outbox; each channel renders it its own way."""
        options = [{"label": o.label, "value": o.value} for o in self.options]
        payload: dict[str, Any] = {"text": self.text, "options": options}
        if self.safe_window_only:
            payload["safe_window_only"] = True
        return json.dumps(payload, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str) -> OutboundMessage:
        """Rebuild a queued message."""
        decoded = json.loads(data)
        options = tuple(ReplyOption(o["label"], o["value"]) for o in decoded.get("options", []))
        return cls(decoded["text"], options, bool(decoded.get("safe_window_only", False)))


class Channel(ABC):
    """A way people reach the service; one subclass per channel package."""

    name: ClassVar[str]
    supports_buttons: ClassVar[bool]
    can_delete_history: ClassVar[bool]
    max_text_length: ClassVar[int]
    # How old a message the provider still lets us delete from the person's chat.
    history_window: ClassVar[timedelta] = timedelta(0)
    # Whether the provider keeps its own copy of messages that we must ask it to delete.
    keeps_provider_copies: ClassVar[bool] = False

    @abstractmethod
    def parse_inbound(self, address: str, payload: Any) -> InboundMessage | None:
        """Turn a received payload into an InboundMessage.

        Returns None for a well-formed payload that is not a person's message (a delivery
        receipt, an edit, a group update); raises InvalidInbound for a malformed one.
        """

    @abstractmethod
    async def send(self, address: str, message: OutboundMessage) -> str | None:
        """Deliver one message; return the provider's message id where there is one.

        Raises RecipientGone when the person cannot be reached any more, DeliveryError when
        the provider failed.
        """

    async def conversation_ended(self, address: str) -> None:  # noqa: B027 -- optional hook
        """Tell the person's client the conversation is over, where the channel can."""

    async def erase_history(self, address: str, message_ids: Sequence[str]) -> None:  # noqa: B027
        """Delete the chat's copy of these messages, where the provider allows it."""

    async def delete_provider_copy(self, provider_id: str) -> None:
        """Ask the provider to delete its copy of one message (when it keeps copies).

        Raises DeliveryError when it cannot be done now; succeeds when already gone.
        """
        raise NotImplementedError(f"{self.name} keeps no provider copies")
