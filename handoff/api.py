"""The advocates' JSON API under ``/api/v1``: thin routes over :class:`HandoffService`.

Each route authenticates (``current_account``), parses, calls one service method, and the
``@answers`` wrapper maps the service's named exceptions to HTTP answers in one place. Every
answer about a conversation names it by handoff id and alias only: no route returns a phone
number or chat id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import WSMsgType, web

from bot.safe_window import OutsideSafeWindow
from handoff import auth
from handoff.events import EventHub
from handoff.jsonapi import json_body, json_error
from handoff.openapi import document as openapi_document
from handoff.service import HandoffService, InvalidRequest, NotAllowed
from storage.audit import Actor, AuditLog
from storage.canned import CannedResponseStore, InvalidCannedResponse
from storage.conversations import StoredMessage
from storage.handoffs import (
    CapacityReached,
    HandoffAlreadyClaimed,
    HandoffEnded,
    HandoffNotFound,
    HandoffView,
    Note,
    NotHolder,
)
from storage.presence import PresenceStore
from storage.users import Account

PREFIX = "/api/v1"
HEARTBEAT_SECONDS = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Service exception -> (status, error code, message; None means the exception's own text).
ERRORS: dict[type[Exception], tuple[int, str, str | None]] = {
    HandoffNotFound: (404, "not_found", "No such conversation."),
    HandoffAlreadyClaimed: (409, "already_claimed", "Someone else has just taken it."),
    CapacityReached: (409, "capacity", "You already hold as many conversations as allowed."),
    HandoffEnded: (410, "contact_left", "This conversation is over: nothing can be sent."),
    NotHolder: (403, "not_yours", "Only the advocate holding this conversation can do that."),
    NotAllowed: (403, "not_allowed", None),
    OutsideSafeWindow: (409, "outside_safe_window", None),
    InvalidRequest: (400, "invalid", None),
}


def answers(handler: Handler) -> Handler:
    """Turn the service's named exceptions into JSON errors."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except tuple(ERRORS) as exc:
            status, code, message = ERRORS[type(exc)]
            raise json_error(status, code, message or str(exc)) from None

    return wrapped


def routes(
    service: Callable[[], HandoffService],
    presence: Callable[[], PresenceStore],
    canned: Callable[[], CannedResponseStore],
    audit: Callable[[], AuditLog],
    events: EventHub,
) -> list[web.RouteDef]:
    """The handoff routes; the stores are built at start-up, so they are looked up."""

    @answers
    async def list_handoffs(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        handoffs = await service().list_for(account)
        # The list comes queue first, in order: positions without asking the queue again.
        waiting = [h for h in handoffs if h.status == "waiting"]
        return web.json_response(
            [
                _handoff_json(h, account, waiting.index(h) + 1 if h in waiting else None)
                for h in handoffs
            ]
        )

    @answers
    async def get_handoff(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        handoff = await service().get_for(request.match_info["id"], account)
        body = _handoff_json(handoff, account, await service().position(handoff))
        summary = await service().summary(handoff)
        body["summary"] = None
        if summary is not None:
            body["summary"] = {
                "language": summary.language,
                "flags": list(summary.flags),
                "answers": dict(summary.answers),
                "safe_window": summary.safe_window,
            }
        return web.json_response(body)

    @answers
    async def claim(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        handoff = await service().claim(request.match_info["id"], account)
        return web.json_response(_handoff_json(handoff, account))

    @answers
    async def claim_next(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        handoff = await service().claim_next(account)
        if handoff is None:
            raise json_error(404, "queue_empty", "Nobody is waiting.")
        return web.json_response(_handoff_json(handoff, account))

    @answers
    async def messages(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        after = _int_query(request, "after")
        found = await service().transcript(request.match_info["id"], account, after)
        handoff = await service().get_for(request.match_info["id"], account)
        return web.json_response(
            {"status": handoff.status, "messages": [_message_json(m) for m in found]}
        )

    @answers
    async def send(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        body = await json_body(request)
        await service().send(request.match_info["id"], account, _string(body, "text"))
        return web.json_response({"sent": True}, status=201)

    @answers
    async def close(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        body = await json_body(request)
        farewell = body.get("message")
        if farewell is not None and not isinstance(farewell, str):
            raise InvalidRequest("'message' must be a string when given")
        outcome = body.get("outcome")
        if not isinstance(outcome, str):
            tags = service().outcome_tags()
            raise InvalidRequest(f"'outcome' must be one of {', '.join(tags)}")
        handoff = await service().close(
            request.match_info["id"], account, outcome, farewell or None
        )
        return web.json_response(_handoff_json(handoff, account))

    @answers
    async def transfer(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        body = await json_body(request)
        await service().transfer(
            request.match_info["id"], account, _string(body, "to"), _string(body, "note")
        )
        return web.json_response({"transferred": True})

    @answers
    async def list_notes(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        notes = await service().notes(request.match_info["id"], account)
        return web.json_response([_note_json(n) for n in notes])

    @answers
    async def add_note(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        body = await json_body(request)
        note = await service().add_note(request.match_info["id"], account, _string(body, "text"))
        return web.json_response(_note_json(note), status=201)

    @answers
    async def availability(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        body = await json_body(request)
        available = body.get("available")
        if not isinstance(available, bool):
            raise InvalidRequest("'available' must be true or false")
        await service().set_available(account, available)
        return web.json_response({"available": available})

    async def advocates(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        return web.json_response(
            [
                {"id": p.user_id, "username": p.username, "role": p.role, "available": p.available}
                for p in await presence().everyone()
            ]
        )

    async def outcomes(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        return web.json_response(list(service().outcome_tags()))

    async def list_canned(request: web.Request) -> web.StreamResponse:
        await auth.current_account(request)
        language = request.query.get("language")
        return web.json_response([asdict(c) for c in await canned().list(language)])

    async def add_canned(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        body = await json_body(request)
        try:
            added = await canned().add(
                language=_string(body, "language"),
                title=_string(body, "title"),
                body=_string(body, "text"),
            )
        except (InvalidCannedResponse, InvalidRequest) as exc:
            raise json_error(400, "invalid", str(exc)) from None
        await audit().record(Actor.of(account), "canned_added", added.id)
        return web.json_response(asdict(added), status=201)

    async def remove_canned(request: web.Request) -> web.StreamResponse:
        account = await auth.require_role(request, "admin")
        canned_id = request.match_info["id"]
        if not await canned().remove(canned_id):
            raise json_error(404, "not_found", "No such canned response.")
        await audit().record(Actor.of(account), "canned_removed", canned_id)
        return web.Response(status=204)

    async def openapi(_request: web.Request) -> web.StreamResponse:
        return web.json_response(openapi_document())

    async def event_socket(request: web.Request) -> web.StreamResponse:
        account = await auth.current_account(request)
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=4096)
        await socket.prepare(request)
        await presence().heartbeat(account.id)
        events.track(socket)
        try:
            with events.subscribe(account.id, account.role) as subscription:
                await socket.send_json({"type": "hello", "user": account.username})
                await _pump(socket, subscription.events, account, presence())
        finally:
            events.forget(socket)
        return socket

    return [
        web.get(f"{PREFIX}/handoffs", list_handoffs),
        web.post(f"{PREFIX}/handoffs/next/claim", claim_next),  # before {id}: "next" is no id
        web.get(f"{PREFIX}/handoffs/{{id}}", get_handoff),
        web.post(f"{PREFIX}/handoffs/{{id}}/claim", claim),
        web.get(f"{PREFIX}/handoffs/{{id}}/messages", messages),
        web.post(f"{PREFIX}/handoffs/{{id}}/messages", send),
        web.post(f"{PREFIX}/handoffs/{{id}}/close", close),
        web.post(f"{PREFIX}/handoffs/{{id}}/transfer", transfer),
        web.get(f"{PREFIX}/handoffs/{{id}}/notes", list_notes),
        web.post(f"{PREFIX}/handoffs/{{id}}/notes", add_note),
        web.put(f"{PREFIX}/me/availability", availability),
        web.get(f"{PREFIX}/advocates", advocates),
        web.get(f"{PREFIX}/outcomes", outcomes),
        web.get(f"{PREFIX}/canned-responses", list_canned),
        web.post(f"{PREFIX}/canned-responses", add_canned),
        web.delete(f"{PREFIX}/canned-responses/{{id}}", remove_canned),
        web.get(f"{PREFIX}/events", event_socket),
        web.get(f"{PREFIX}/openapi.json", openapi),
    ]


async def _pump(
    socket: web.WebSocketResponse,
    events: asyncio.Queue[dict[str, Any]],
    account: Account,
    presence: PresenceStore,
) -> None:
    """Forward events to the dashboard while reading its heartbeats, until either side ends."""

    async def forward() -> None:
        while True:
            await socket.send_json(await events.get())

    sender = asyncio.create_task(forward())
    try:
        async for frame in socket:
            if frame.type is WSMsgType.TEXT and _is_heartbeat(frame.data):
                await presence.heartbeat(account.id)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await sender


def _is_heartbeat(data: str) -> bool:
    try:
        frame = json.loads(data)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("type") == "heartbeat"


def _handoff_json(
    handoff: HandoffView, account: Account, position: int | None = None
) -> dict[str, Any]:
    return {
        "id": handoff.id,
        "status": handoff.status,
        "priority": handoff.priority,
        "channel": handoff.channel,
        "alias": handoff.alias,
        "waiting_since": handoff.created_at.isoformat(),
        "position": position,
        "mine": handoff.claimed_by == account.id,
        "held": handoff.claimed_by is not None and handoff.status == "claimed",
        "offered_to_me": handoff.offered_to == account.id,
        "claimed_at": handoff.claimed_at.isoformat() if handoff.claimed_at else None,
        "ended_at": handoff.ended_at.isoformat() if handoff.ended_at else None,
        "outcome": handoff.outcome,
    }


def _message_json(message: StoredMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "from": message.sender,
        "text": message.text,
        "at": message.created_at.isoformat(),
    }


def _note_json(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "author": note.author,
        "kind": note.kind,
        "text": note.text,
        "at": note.created_at.isoformat(),
    }


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string")
    return value


def _int_query(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "0")
    if not raw.isdigit() or len(raw) > 9:
        raise json_error(400, "invalid", f"'{name}' must be a whole number")
    return int(raw)
