"""What every channel provides, and the messages that cross between channels and the bot.

A channel authenticates and parses what arrives (``parse_inbound``), and delivers what the
service says (``send``). Capability flags let the bot and the dashboard adapt, e.g. numbered
choices where there are no buttons, without knowing which channel they are talking to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.engine import InboundKind, ReplyOption


class ChannelError(Exception):
    """A channel could not do what was asked."""


class InvalidInbound(ChannelError):
    """What arrived is not a message this channel understands; the text says why."""


class RecipientGone(ChannelError):
    """The person is no longer reachable on this channel (left, closed the page, blocked)."""


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
    external_id: str | None = None  # provider's message id, for de-duplication

    @property
    def is_quick_exit(self) -> bool:
        """The person pressed a quick-exit control (not the EXIT keyword, which the bot sees)."""
        return self.kind is None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message for the person, with choices where the script offers them."""

    text: str
    options: Sequence[ReplyOption] = field(default_factory=tuple)


class Channel(ABC):
    """A way people reach the service; one subclass per channel package."""

    name: ClassVar[str]
    supports_buttons: ClassVar[bool]
    can_delete_history: ClassVar[bool]
    max_text_length: ClassVar[int]

    @abstractmethod
    def parse_inbound(self, address: str, payload: Any) -> InboundMessage:
        """Turn a received payload into an InboundMessage, or raise InvalidInbound."""

    @abstractmethod
    async def send(self, address: str, message: OutboundMessage) -> None:
        """Deliver one message, or raise RecipientGone when the person cannot be reached."""

    async def conversation_ended(self, address: str) -> None:  # noqa: B027 -- optional hook
        """Tell the person's client the conversation is over, where the channel can."""
