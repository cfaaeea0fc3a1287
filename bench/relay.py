"""Benchmark: person -> advocate relay latency, on one instance and across two.

    python -m bench.relay [--messages 300] [--postgres postgresql+asyncpg://…/db]

A web-chat person and a signed-in advocate in a claimed conversation, as in production: the
person's message goes through the web-chat socket, the conversation service (stored,
encrypted) and the handoff service, and the advocate's dashboard learns of it on its
events socket. Measured: from the person's send to the advocate's event (p50/p99), and the
other way, from the advocate's POST to the frame on the person's page.

Baseline in the same run (**floor**): a bare aiohttp app that forwards a websocket frame from
one socket to another. With ``--postgres`` the same is measured across two instances on that
server (in a database of its own, created and dropped; person on one instance, advocate on
the other; both in this process, talking through PostgreSQL LISTEN/NOTIFY).

Targets (issue #8): p99 <= 50 ms on one instance, <= 200 ms across two on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from bench.postgres import fresh_database
from config import load_settings
from crypto import KeyRing
from porchlight.app import create_app
from porchlight.state import SERVICES

PASSWORD = "bench password 0123"  # noqa: S105 -- a throwaway account's


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


async def floor(messages: int) -> list[float]:
    """A bare app forwarding frames from one websocket to another."""
    peers: list[web.WebSocketResponse] = []
    both_connected = asyncio.Event()

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        peers.append(ws)
        if len(peers) == 2:
            both_connected.set()
        async for frame in ws:
            for other in peers:
                if other is not ws:
                    await other.send_str(frame.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    server = TestServer(app)
    await server.start_server()
    samples = []
    async with aiohttp.ClientSession() as http:
        sender = await http.ws_connect(server.make_url("/ws"))
        receiver = await http.ws_connect(server.make_url("/ws"))
        await both_connected.wait()
        for n in range(messages):
            started = time.perf_counter()
            await sender.send_str(f"message {n}")
            await receiver.receive_str()
            samples.append(time.perf_counter() - started)
        await sender.close()
        await receiver.close()
    await server.close()
    return samples


@asynccontextmanager
async def instance(
    work: Path, name: str, keyring: KeyRing, database_url: str | None
) -> AsyncIterator[TestServer]:
    env = {"PORCHLIGHT_DATA_DIR": str(work / name), "PORCHLIGHT_TOTP_REQUIRED_ROLES": ""}
    if database_url:
        env["PORCHLIGHT_DATABASE_URL"] = database_url
    app = create_app(
        load_settings(env=env),
        keyring=keyring,
        password_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        handoff_interval=0.1,
    )
    server = TestServer(app)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def frames_until(socket: Any, wanted: str) -> None:
    while True:
        frame = await socket.receive_json(timeout=10)
        if wanted in (frame.get("type"), frame.get("state")) or (
            wanted == "options" and frame.get("options")
        ):
            return


async def relay(
    person_side: TestServer, advocate_side: TestServer, messages: int
) -> tuple[list[float], list[float]]:
    """Samples person -> advocate and advocate -> person, in seconds."""
    services = advocate_side.app[SERVICES]
    username = f"bench{time.monotonic_ns()}"
    await services.users.add_user(username=username, role="advocate", password=PASSWORD)
    # The session cookie is Secure: loopback HTTP counts as secure here, as browsers treat it.
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[advocate_side.make_url("/")])
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as advocate,
        aiohttp.ClientSession() as person_http,
    ):
        signed = await advocate.post(
            advocate_side.make_url("/api/v1/session"),
            json={"username": username, "password": PASSWORD},
        )
        headers = {"X-CSRF-Token": (await signed.json())["csrf_token"]}
        await advocate.put(
            advocate_side.make_url("/api/v1/me/availability"),
            json={"available": True},
            headers=headers,
        )
        events = await advocate.ws_connect(advocate_side.make_url("/api/v1/events"))
        person = await person_http.ws_connect(person_side.make_url("/channels/webchat/ws"))
        await person.send_json({"type": "start"})
        await frames_until(person, "options")
        await person.send_json({"type": "choice", "value": "safe"})
        await frames_until(person, "options")
        await person.send_json({"type": "choice", "value": "talk"})
        await frames_until(person, "waiting")
        (handoff,) = await services.handoffs.queue()
        claimed = await advocate.post(
            advocate_side.make_url(f"/api/v1/handoffs/{handoff.id}/claim"), headers=headers
        )
        assert claimed.status == 200, await claimed.text()
        await frames_until(person, "advocate_joined")

        inbound, outbound = [], []
        for n in range(messages):
            started = time.perf_counter()
            await person.send_json({"type": "message", "text": f"message {n}"})
            while (await events.receive_json(timeout=10)).get("type") != "message":
                pass
            inbound.append(time.perf_counter() - started)

            started = time.perf_counter()
            sent = await advocate.post(
                advocate_side.make_url(f"/api/v1/handoffs/{handoff.id}/messages"),
                json={"text": f"reply {n}"},
                headers=headers,
            )
            assert sent.status == 201, await sent.text()
            await frames_until(person, "message")
            outbound.append(time.perf_counter() - started)
        await person.close()
        await events.close()
    return inbound, outbound


async def run(messages: int, postgres: str | None) -> str:
    """The table of figures; the instances' data directories are deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-relay-") as work:
        return await _run_in(Path(work), messages, postgres)


async def _run_in(work: Path, messages: int, postgres: str | None) -> str:
    keyring = KeyRing.generate()
    lines = [
        f"{messages} messages each way",
        "| setup | direction | p50 ms | p99 ms | p99 x floor |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    base_p50, base_p99 = percentiles(await floor(messages))
    lines.append(
        f"| floor | socket to socket | {base_p50 * 1000:.2f} | {base_p99 * 1000:.2f} | 1 |"
    )

    def row(setup: str, direction: str, samples: list[float]) -> str:
        p50, p99 = percentiles(samples)
        return (
            f"| {setup} | {direction} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | "
            f"{p99 / base_p99:.0f} |"
        )

    async with instance(work, "one", keyring, None) as one:
        inbound, outbound = await relay(one, one, messages)
    lines += [
        row("one instance, SQLite", "person -> advocate", inbound),
        row("one instance, SQLite", "advocate -> person", outbound),
    ]
    if postgres:
        async with (
            fresh_database(postgres) as url,
            instance(work, "a", keyring, url) as a,
            instance(work, "b", keyring, url) as b,
        ):
            inbound, outbound = await relay(a, b, messages)
        lines += [
            row("two instances, PostgreSQL", "person -> advocate", inbound),
            row("two instances, PostgreSQL", "advocate -> person", outbound),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL for the two-instance run")
    args = parser.parse_args()
    print(asyncio.run(run(args.messages, args.postgres)))


if __name__ == "__main__":
    main()
