"""Messages between instances of the service, over PostgreSQL LISTEN/NOTIFY.

Several instances behind one address share one PostgreSQL. A dashboard event raised on one
instance must reach the advocates whose dashboards are open on another, and an advocate's
reply must reach the web-chat page whose socket another instance holds. PostgreSQL's
LISTEN/NOTIFY carries those messages, so no other broker is needed.

What crosses the database this way can be a message an advocate wrote, so every payload is
sealed (AES-GCM under a purpose key from the key ring) before it is handed to PostgreSQL:
the server, its logs and anyone listening on the channel see only ciphertext. Payloads are
never stored; a message sent while an instance is disconnected is lost to it, which is why
only live deliveries (events, frames to open pages) use the bus and never anything the
service must not lose.

On SQLite there is one instance, so :class:`LocalBus` delivers nothing anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from crypto import KeyRing
from crypto.cipher import FieldCipher
from crypto.errors import DecryptError

logger = logging.getLogger(__name__)

CHANNEL = "porchlight"
PURPOSE = "instance-bus/v1"
# NOTIFY refuses payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900
RECONNECT_SECONDS = 2.0
_AAD = b"porchlight bus"

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Bus(Protocol):
    """Deliver a message to every other instance."""

    async def publish(self, message: dict[str, Any]) -> None:
        """Send to the other instances (never back to this one)."""


class LocalBus:
    """One instance: there is nobody else to tell."""

    async def publish(self, message: dict[str, Any]) -> None:
        """Nothing to do."""


class PostgresBus:
    """LISTEN/NOTIFY on one channel, payloads sealed; see the module docstring."""

    def __init__(self, database_url: str, keyring: KeyRing, handler: Handler) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._cipher = FieldCipher(keyring.derive(PURPOSE))
        self._handler = handler
        self.instance = secrets.token_hex(8)  # to recognise (and skip) our own messages
        self._listener: asyncpg.Connection | None = None
        self._sender: asyncpg.Connection | None = None
        self._send_lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect and listen; a lost connection is re-established in the background."""
        await self._listen()
        self._watch = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        """Stop listening and close both connections."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for connection in (self._listener, self._sender):
            if connection is not None and not connection.is_closed():
                await connection.close()

    async def publish(self, message: dict[str, Any]) -> None:
        """Seal and NOTIFY; a failure is logged, never raised (live deliveries only)."""
        sealed = self._cipher.encrypt(json.dumps(message).encode(), _AAD)
        payload = json.dumps({"from": self.instance, "sealed": base64.b64encode(sealed).decode()})
        if len(payload) > MAX_PAYLOAD:
            logger.error("bus: a message too large to notify was dropped (%s)", message.get("kind"))
            return
        async with self._send_lock:
            try:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await asyncpg.connect(self._dsn)
                await self._sender.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            except (OSError, asyncpg.PostgresError) as exc:
                logger.error("bus: could not notify the other instances (%s)", type(exc).__name__)

    async def _listen(self) -> None:
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(CHANNEL, self._received)

    async def _keep_listening(self) -> None:
        while True:
            await asyncio.sleep(RECONNECT_SECONDS)
            if self._listener is not None and not self._listener.is_closed():
                continue
            try:
                await self._listen()
                logger.warning("bus: listening again after a lost connection")
            except (OSError, asyncpg.PostgresError) as exc:
                logger.error("bus: cannot listen (%s); retrying", type(exc).__name__)

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            if envelope.get("from") == self.instance:
                return
            sealed = base64.b64decode(envelope["sealed"])
            message = json.loads(self._cipher.decrypt(sealed, _AAD))
        except (ValueError, KeyError, TypeError, DecryptError) as exc:
            logger.error("bus: an unreadable message was ignored (%s)", type(exc).__name__)
            return
        task = asyncio.create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            await self._handler(message)
        except Exception:  # one bad delivery must not stop the listener
            logger.exception("bus: handling a message failed")
