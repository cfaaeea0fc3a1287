"""Web chat routes: the page and its websocket. Thin: authenticate, parse, hand over, answer."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import WSMsgType, web

from bot.service import ConversationService
from channels.background import BackgroundWork
from channels.base import InvalidInbound, OutboundMessage, RecipientGone
from channels.webchat.channel import MAX_FRAME_BYTES, WebChatChannel
from config import Settings
from porchlight.web import same_origin

PACKAGE_DIR = Path(__file__).parent
STATIC_PREFIX = "/static/webchat"
WEBSOCKET_PATH = "/channels/webchat/ws"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_chat_page(settings: Settings) -> str:
    """The chat page, with the quick-exit destination baked in (no inline script needed)."""
    return _templates.get_template("chat.html").render(
        quick_exit_url=settings.quick_exit_url, static_prefix=STATIC_PREFIX
    )


async def websocket(
    request: web.Request,
    channel: WebChatChannel,
    service: ConversationService,
    background: BackgroundWork,
    public_url: str,
) -> web.StreamResponse:
    """One chat: frames in, engine replies out, until the page closes or the person exits."""
    if not same_origin(request, public_url):
        raise web.HTTPForbidden(text="cross-origin chat is not allowed")
    socket = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=30)
    await socket.prepare(request)
    address = channel.open_session(socket)
    wiped = False
    try:
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            try:
                inbound = channel.parse_inbound(address, frame.data)
            except InvalidInbound as exc:
                await channel.send_frame(address, {"type": "error", "text": str(exc)})
                continue
            outcome = await background.run_to_completion(service.handle(inbound))
            if outcome.wiped:
                # A typed keyword (DELETE, STOP, …) wiped it: the page must leave just as
                # the Exit button does, not sit there showing the deleted conversation.
                wiped = True
                await channel.send_frame(address, {"type": "exit"})
                break
            for reply in outcome.replies:
                await channel.send(address, OutboundMessage(reply.text, reply.options))
            for status in outcome.status:
                await channel.send_frame(address, status)
            if outcome.ended:
                await channel.conversation_ended(address)
    except RecipientGone:
        pass  # the page went away mid-reply; the conversation is wiped below
    finally:
        channel.close_session(address)
        if not wiped:
            # Closed, reloaded or navigated away: nothing can resume it, so nothing is kept.
            await background.run_to_completion(service.forget(channel.name, address))
        await socket.close()
    return socket
