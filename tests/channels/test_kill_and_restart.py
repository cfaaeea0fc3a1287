"""kill -9 in the middle of delivering, then restart: nothing queued is lost or sent twice.

The real ``porchlight serve`` runs as a child process against a fake Twilio on loopback.
Twilio is made to hang on the first send, so that one message is in flight when the
process is killed; the others are still queued. After a restart the queued ones must
arrive exactly once, and the one in flight must not be sent again (nobody can know whether
Twilio delivered it, and a survivor's phone must not get the same text twice).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio
from tests.waiting import eventually

PEOPLE = ["+15550104401", "+15550104402", "+15550104403"]
REPLIES_TO_HELLO = 3  # the greeting, how to leave, and the safety question


class StallingTwilio(FakeTwilio):
    """A fake Twilio that can be told to never answer sends (the request just hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()
        self.received_while_stalled: list[dict[str, str]] = []
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.append(self._stall)
        return app

    @web.middleware
    async def _stall(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.stalled.is_set() and request.method == "POST":
            form = {k: str(v) for k, v in (await request.post()).items()}
            self.received_while_stalled.append(form)
            await self.release.wait()  # the caller is killed before this ever returns
            raise web.HTTPServiceUnavailable()
        return await handler(request)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """``porchlight serve`` in a child process, on one data directory across restarts."""

    def __init__(self, data_dir: Path, twilio_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORCHLIGHT_")},
            "PORCHLIGHT_DATA_DIR": str(data_dir),
            "PORCHLIGHT_PORT": str(self.port),
            "PORCHLIGHT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "PORCHLIGHT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PORCHLIGHT_TWILIO_FROM": SENDER,
            "PORCHLIGHT_TWILIO_API_BASE": twilio_url,
            "PORCHLIGHT_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "porchlight", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self.spawn()  # returns at once; the wait for readiness below is asynchronous
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("the service did not start")

    def kill_9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    async def text(self, sender: str, body: str, sid: str) -> None:
        params = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": SENDER,
            "Body": body,
            "NumMedia": "0",
        }
        url = self.url + "/channels/twilio"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response,
        ):
            assert response.status == 200


@pytest.fixture
async def rig(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[tuple[StallingTwilio, Service]]:
    fake = StallingTwilio()
    server = await aiohttp_server(fake.app())
    service = Service(tmp_path / "data", str(server.make_url("")).rstrip("/"))
    yield fake, service
    fake.release.set()
    service.stop()


async def test_after_kill_9_queued_replies_arrive_once_and_the_one_in_flight_is_not_resent(
    rig: tuple[StallingTwilio, Service],
) -> None:
    fake, service = rig
    await service.start()
    fake.stalled.set()
    for number, person in enumerate(PEOPLE):
        await service.text(person, "hello", sid=f"SM{number:032x}")

    async def in_flight() -> int:
        return len(fake.received_while_stalled)

    await eventually(in_flight, 1)  # the first reply is with "Twilio", which never answers
    await asyncio.sleep(0.3)  # and the worker is stuck on it, the others still queued
    assert len(fake.received_while_stalled) == 1
    service.kill_9()

    fake.stalled.clear()
    await service.start()
    expected = REPLIES_TO_HELLO * len(PEOPLE) - 1

    async def delivered() -> int:
        return len(fake.sent)

    await eventually(delivered, expected, within=20)
    await asyncio.sleep(0.5)  # anything sent twice would show up now
    stuck = fake.received_while_stalled[0]
    everything = [(m["To"], m["Body"]) for m in fake.sent]
    assert len(everything) == expected
    assert len(set(everything)) == expected, "nothing was sent twice"
    assert (stuck["To"], stuck["Body"]) not in everything, "the one in flight was not resent"
    for person in PEOPLE:
        got = [body for to, body in everything if to == person]
        owed = REPLIES_TO_HELLO - (1 if person == stuck["To"] else 0)
        assert len(got) == owed, person
