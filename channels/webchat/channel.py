"""The web chat channel: one websocket is one person, for as long as the page is open.

The person's address is a random token made when the socket opens and known only to this
process: the browser keeps nothing, so closing or leaving the page ends the conversation for
good. That is the point: a seized phone has no session to resume.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any, ClassVar

from aiohttp import web

from bot.engine import InboundKind
from channels.base import Channel, InboundMessage, InvalidInbound, OutboundMessage, RecipientGone
from storage.bus import Bus

MAX_TEXT_LENGTH = 4000
MAX_FRAME_BYTES = 16 * 1024
_KINDS = {"start": InboundKind.START, "message": InboundKind.TEXT, "choice": InboundKind.CHOICE}


class WebChatChannel(Channel):
    """Parses the page's JSON frames and sends replies to the live socket."""

    name: ClassVar[str] = "webchat"
    supports_buttons: ClassVar[bool] = True
    can_delete_history: ClassVar[bool] = True
    max_text_length: ClassVar[int] = MAX_TEXT_LENGTH

    def __init__(self) -> None:
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._bus: Bus | None = None

    def reach_other_instances(self, bus: Bus) -> None:
        """Pages may be open on other instances: frames for them go through the bus."""
        self._bus = bus

    async def deliver_here(self, address: str, frame: Any) -> None:
        """A frame from another instance, for a page whose socket may be open here."""
        if address not in self._sockets or not isinstance(frame, dict):
            return  # held elsewhere, or already closed: that instance handles the closing
        with contextlib.suppress(RecipientGone):
            await self.send_frame(address, frame)

    def open_session(self, socket: web.WebSocketResponse) -> str:
        """Register a new socket and return its random address."""
        address = secrets.token_urlsafe(24)
        self._sockets[address] = socket
        return address

    def close_session(self, address: str) -> None:
        """Forget a socket; later sends to it raise RecipientGone."""
        self._sockets.pop(address, None)

    @property
    def open_sockets(self) -> list[web.WebSocketResponse]:
        """Live sockets, so shutdown can close them."""
        return list(self._sockets.values())

    def parse_inbound(self, address: str, payload: Any) -> InboundMessage:
        """Validate one client frame (a JSON string) against the documented protocol."""
        if not isinstance(payload, str):
            raise InvalidInbound("frames must be JSON text")
        try:
            frame = json.loads(payload)
        except ValueError:
            raise InvalidInbound("frames must be JSON objects") from None
        if not isinstance(frame, dict):
            raise InvalidInbound("frames must be JSON objects")
        frame_type = frame.get("type")
        if frame_type == "exit":
            return InboundMessage(channel=self.name, address=address, kind=None)
        kind = _KINDS.get(frame_type) if isinstance(frame_type, str) else None
        if kind is None:
            raise InvalidInbound("type must be one of start, message, choice, exit")
        if kind is InboundKind.START:
            return InboundMessage(channel=self.name, address=address, kind=kind)
        field_name = "text" if kind is InboundKind.TEXT else "value"
        text = frame.get(field_name)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInbound(f"'{frame_type}' needs a non-empty '{field_name}' string")
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidInbound(f"messages can be at most {MAX_TEXT_LENGTH} characters")
        return InboundMessage(channel=self.name, address=address, kind=kind, text=text)

    async def send(self, address: str, message: OutboundMessage) -> None:
        """Send a bot or advocate message to the page (no provider, so no message id)."""
        await self.send_frame(
            address,
            {
                "type": "message",
                "text": message.text,
                "options": [{"label": o.label, "value": o.value} for o in message.options],
            },
        )

    async def conversation_ended(self, address: str) -> None:
        """The page shows "This chat has ended" and offers a fresh start."""
        await self.send_frame(address, {"type": "closed"})

    async def send_frame(self, address: str, frame: dict[str, Any]) -> None:
        """Send any protocol frame (status, closed, error)."""
        socket = self._sockets.get(address)
        if socket is None and self._bus is not None:
            # Not open here: the instance holding it delivers it. If no instance does, the
            # page was closed and its own instance has already wiped the conversation.
            await self._bus.publish({"kind": "frame", "address": address, "frame": frame})
            return
        if socket is None or socket.closed:
            raise RecipientGone("the page was closed")
        try:
            await socket.send_json(frame)
        except ConnectionResetError as exc:
            raise RecipientGone("the page was closed") from exc
