"""The two baselines the SMS benchmark measures Porchlight against, run as their own process.

``bare``: an aiohttp app that parses the Twilio form and answers empty TwiML, nothing else.
``floor``: the same plus one AES-256-GCM encryption and one SQLite insert per message, the
least any service that stores what it is told encrypted must do. Both also hold idle
websockets at ``/channels/webchat/ws``, the baseline of ``bench.websockets``.

    python -m bench.floor bare|floor PORT DATA_DIR
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DATABASE = web.AppKey("database", aiosqlite.Connection)


def make_app(kind: str, data_dir: Path) -> web.Application:
    """The baseline app of the given kind."""
    app = web.Application()
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))

    async def bare(request: web.Request) -> web.Response:
        form = await request.post()
        if not form.get("MessageSid"):
            raise web.HTTPBadRequest()
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def floor(request: web.Request) -> web.Response:
        form = await request.post()
        body = str(form.get("Body", "")).encode()
        nonce = os.urandom(12)
        sealed = nonce + cipher.encrypt(nonce, body, b"messages/body")
        await request.app[DATABASE].execute(
            "INSERT INTO messages (sid, body) VALUES (?, ?)", (str(form["MessageSid"]), sealed)
        )
        await request.app[DATABASE].commit()
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def database(app: web.Application) -> AsyncIterator[None]:
        connection = await aiosqlite.connect(data_dir / "floor.db")
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS messages (sid TEXT PRIMARY KEY, body BLOB)"
        )
        app[DATABASE] = connection
        yield
        await connection.close()

    if kind == "floor":
        app.cleanup_ctx.append(database)
    app.router.add_post("/channels/twilio", floor if kind == "floor" else bare)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/channels/webchat/ws", idle_socket)
    return app


async def idle_socket(request: web.Request) -> web.WebSocketResponse:
    """Hold a websocket open and do nothing (the websockets benchmark's baseline)."""
    socket = web.WebSocketResponse(heartbeat=30)
    await socket.prepare(request)
    async for _frame in socket:
        pass
    return socket


async def healthz(_request: web.Request) -> web.Response:
    """Ready."""
    return web.json_response({"status": "ok"})


if __name__ == "__main__":
    kind, port, data_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    web.run_app(make_app(kind, data_dir), host="127.0.0.1", port=port, access_log=None, print=None)
