"""Live events for open dashboards, delivered over the ``/api/v1/events`` websocket.

Events never carry content: they say *that* something happened ("a message arrived in
handoff X", "1 conversation waiting (high priority)") and the dashboard fetches what it is
allowed to see through the API, which checks roles and writes the audit log. So an event
shown by mistake, or a notification on a locked screen, reveals nothing.

This hub delivers to the dashboards open on this instance; with several instances it also
hands each event to the bus (storage/bus.py), and the others deliver it to theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from storage.bus import Bus

logger = logging.getLogger(__name__)

# A dashboard that stops reading must not make the service hold events for ever.
QUEUE_LIMIT = 200


@dataclass(eq=False)
class Subscription:
    """One open dashboard: the account it belongs to and its pending events."""

    user_id: str
    role: str
    events: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )


class EventHub:
    """Fan-out of events to dashboards, by account or by role."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._bus: Bus | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    def reach_other_instances(self, bus: Bus) -> None:
        """Hand every event to the bus too, for dashboards open on other instances."""
        self._bus = bus

    def deliver_here(self, message: dict[str, Any]) -> None:
        """An event from another instance, for the dashboards open on this one."""
        event = message.get("event")
        if not isinstance(event, dict):
            return
        if message.get("user_id") is not None:
            user_id = message["user_id"]
            self._send(event, lambda s: s.user_id == user_id)
        else:
            roles = tuple(message.get("roles") or ())
            self._send(event, lambda s: s.role in roles)

    @contextlib.contextmanager
    def subscribe(self, user_id: str, role: str) -> Iterator[Subscription]:
        """Receive events for as long as the ``with`` block lasts."""
        subscription = Subscription(user_id, role)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def to_user(self, user_id: str, event: dict[str, Any]) -> None:
        """Tell every dashboard one account has open."""
        self._send(event, lambda s: s.user_id == user_id)
        self._publish({"kind": "event", "user_id": user_id, "event": event})

    def to_roles(self, roles: tuple[str, ...], event: dict[str, Any]) -> None:
        """Tell every dashboard of accounts with these roles."""
        self._send(event, lambda s: s.role in roles)
        self._publish({"kind": "event", "roles": list(roles), "event": event})

    def _publish(self, message: dict[str, Any]) -> None:
        if self._bus is None:
            return
        # Callers are synchronous and must not wait for the database: send in the background.
        task = asyncio.create_task(self._bus.publish(message))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def track(self, socket: web.WebSocketResponse) -> None:
        """Remember an open dashboard socket, so shutdown can close it."""
        self._sockets.add(socket)

    def forget(self, socket: web.WebSocketResponse) -> None:
        """The dashboard socket closed."""
        self._sockets.discard(socket)

    @property
    def open_sockets(self) -> list[web.WebSocketResponse]:
        """Dashboard sockets still open."""
        return list(self._sockets)

    def connected(self, user_id: str) -> bool:
        """Whether this account has a dashboard open here."""
        return any(s.user_id == user_id for s in self._subscriptions)

    def _send(self, event: dict[str, Any], wanted: Any) -> None:
        for subscription in list(self._subscriptions):
            if not wanted(subscription):
                continue
            try:
                subscription.events.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning("events: a dashboard is not reading; dropped one event")
