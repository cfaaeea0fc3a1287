"""Benchmark: inbound SMS webhooks, Porchlight against a bare app and the storage floor.

    python -m bench.sms_webhook [--messages 3000] [--concurrency 32] [--rate 500]
                                [--rounds 3] [--postgres postgresql+asyncpg://user@host/db]

Three servers run as separate processes on loopback: ``bare`` (parse the form, answer TwiML),
``floor`` (the same plus one AES-GCM encryption and one SQLite insert) and ``porchlight
serve`` on its embedded SQLite (and, with ``--postgres``, again in a database of its own on
that server), with real Twilio signatures. Each gets the same signed
webhooks from distinct senders. Reported:

- throughput: messages fully handled per second (for Porchlight: until every conversation
  is stored, not just answered: when every webhook was answered within 1.4 s, each answer
  came after its turn was stored, and the last answer ends the count; otherwise the count
  ends when /metrics, polled every 0.2 s, shows them all), and its ratio to the floor and
  the bare app measured in the same run;
- latency at a steady ``--rate``: p50 and p99 of the webhook's answer.

The client's own garbage collector is off while it measures (``no_pauses_of_our_own``).
Every target runs once per round, in turn, and the medians over the rounds are reported
(each ratio against the floor of its own round): the machine's speed wanders by a quarter
between minutes.

Replies are queued in the outbox as usual; Twilio's API is pointed at a closed port, so
delivery is retried later and does not compete with the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

from bench.postgres import fresh_database
from channels.twilio.routes import ANSWER_WITHIN_SECONDS

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105 -- a fake account's
SENDER = "+15550100000"
TARGETS = ("bare", "floor", "porchlight")
METRICS_POLL_SECONDS = 0.2
STALL_SECONDS = 30  # no turn stored for this long: some were lost, say so instead of hanging
# Porchlight answers a webhook once its turn is stored, or after ANSWER_WITHIN_SECONDS if it
# is not: an answer well within that means the turn was stored.
ANSWERED_AFTER_THE_TURN = ANSWER_WITHIN_SECONDS - 0.1


@dataclass
class Result:
    """One target's figures."""

    name: str
    per_second: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def no_pauses_of_our_own() -> Iterator[None]:
    """This process's garbage collector off while it measures, then back on.

    A full collection here stopped the client for about 30 ms in half the latency phases
    (a callback on ``gc.callbacks`` saw them), and every answer due meanwhile counted that
    wait as the server's: a few such pauses make the p99 of 2,500 answers.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def server(name: str, work: Path, database_url: str | None = None) -> Iterator[tuple[str, int]]:
    """Start one target in its own process; yield its base URL and process id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = work / name
    data_dir.mkdir()
    if name.startswith("porchlight"):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORCHLIGHT_")},
            "PORCHLIGHT_DATA_DIR": str(data_dir),
            "PORCHLIGHT_PORT": str(port),
            "PORCHLIGHT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "PORCHLIGHT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PORCHLIGHT_TWILIO_FROM": SENDER,
            "PORCHLIGHT_TWILIO_API_BASE": f"http://127.0.0.1:{free_port()}",  # closed
            "PORCHLIGHT_LOG_LEVEL": "ERROR",
            **({"PORCHLIGHT_DATABASE_URL": database_url} if database_url else {}),
        }
        command = [sys.executable, "-m", "porchlight", "serve"]
    else:
        env = dict(os.environ)
        command = [sys.executable, "-m", "bench.floor", name, str(port), str(data_dir)]
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and modules
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=180)  # it first finishes every turn it accepted


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def webhooks(url: str, count: int, first: int) -> list[tuple[dict[str, str], str]]:
    """Signed webhooks from ``count`` different senders."""
    validator = RequestValidator(AUTH_TOKEN)
    signed = []
    for number in range(first, first + count):
        params = {
            "MessageSid": f"SM{number:032x}",
            "AccountSid": ACCOUNT_SID,
            "From": f"+1555{number:07d}",
            "To": SENDER,
            "Body": "hello",
            "NumMedia": "0",
        }
        signed.append((params, validator.compute_signature(url + "/channels/twilio", params)))
    return signed


async def post_all(
    http: aiohttp.ClientSession, url: str, batch: list[tuple[dict[str, str], str]], workers: int
) -> float:
    """Post every webhook, ``workers`` at a time; the longest any took to be answered."""
    queue: asyncio.Queue[tuple[dict[str, str], str]] = asyncio.Queue()
    for item in batch:
        queue.put_nowait(item)
    longest = 0.0

    async def worker() -> None:
        nonlocal longest
        while not queue.empty():
            params, signature = queue.get_nowait()
            sent = time.perf_counter()
            async with http.post(
                url + "/channels/twilio", data=params, headers={"X-Twilio-Signature": signature}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status}")
                await response.read()
            longest = max(longest, time.perf_counter() - sent)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return longest


async def stored_conversations(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/metrics") as response:
        text = await response.text()
    match = re.search(r'porchlight_conversations\{status="active"\} ([0-9.e+]+)', text)
    return int(float(match.group(1))) if match else 0


async def throughput(name: str, url: str, messages: int, workers: int) -> float:
    batch = webhooks(url, messages, first=0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as http:
        await post_all(http, url, batch[:200], workers)  # warm up
        started = time.perf_counter()
        longest = await post_all(http, url, batch[200:], workers)
        answered = time.perf_counter()
        if name.startswith("porchlight"):  # answered is not done: wait until all are stored
            stored, last_progress = 0, time.perf_counter()
            while stored < messages:
                # Another process's state: polling is the only way. Each /metrics answer costs
                # the server seven queries, so not too often (a 0.02 s poll took a share of
                # the database the turns being measured needed).
                await asyncio.sleep(METRICS_POLL_SECONDS)
                now_stored = await stored_conversations(http, url)
                if now_stored > stored:
                    stored, last_progress = now_stored, time.perf_counter()
                elif time.perf_counter() - last_progress > STALL_SECONDS:
                    raise RuntimeError(f"{name}: {messages - stored} turns were never stored")
            if longest < ANSWERED_AFTER_THE_TURN:
                # Every webhook was answered after its turn was stored: the last answer is
                # when the last turn was stored, more exactly than the polls can tell.
                return (messages - 200) / (answered - started)
        return (messages - 200) / (time.perf_counter() - started)


async def latency(url: str, rate: float, seconds: float) -> tuple[float, float]:
    batch = webhooks(url, int(rate * seconds), first=1_000_000)
    timings: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(params: dict[str, str], signature: str) -> None:
            started = time.perf_counter()
            async with http.post(
                url + "/channels/twilio", data=params, headers={"X-Twilio-Signature": signature}
            ) as response:
                await response.read()
            timings.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        for index, (params, signature) in enumerate(batch):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(params, signature)))
        await asyncio.gather(*tasks)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.99) - 1] * 1000


async def run(
    messages: int, workers: int, rate: float, seconds: float, postgres: str | None, rounds: int
) -> list[list[Result]]:
    """Each round's results, every target once per round."""
    all_rounds = []
    for _ in range(rounds):
        results = []
        with tempfile.TemporaryDirectory(prefix="porchlight-bench-") as work:
            for name in TARGETS:
                results.append(await measure(name, Path(work), messages, workers, rate, seconds))
            if postgres:
                async with fresh_database(postgres) as url:
                    results.append(
                        await measure(
                            "porchlight-pg", Path(work), messages, workers, rate, seconds, url
                        )
                    )
        all_rounds.append(results)
        print(report([results], rate), flush=True)
    return all_rounds


async def measure(
    name: str,
    work: Path,
    messages: int,
    workers: int,
    rate: float,
    seconds: float,
    database_url: str | None = None,
) -> Result:
    with server(name, work, database_url) as (url, _pid):
        await wait_ready(url)
        with no_pauses_of_our_own():
            per_second = await throughput(name, url, messages, workers)
            p50, p99 = await latency(url, rate, seconds)
    return Result(name, per_second, p50, p99)


def report(rounds: list[list[Result]], rate: float) -> str:
    """A table of medians over the rounds; each ratio against its own round's baselines."""
    names = [r.name for r in rounds[0]]
    title = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "one round"
    lines = [
        f"{'target':<13} {'msg/s':>8} {'x floor':>8} {'x bare':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8}   ({title}; latency at {rate:.0f} msg/s)"
    ]
    mine = [{r.name: r for r in results} for results in rounds]
    median = statistics.median
    for name in names:
        of = [by_name[name] for by_name in mine]
        lines.append(
            f"{name:<13} {median(r.per_second for r in of):>8.0f} "
            f"{median(b[name].per_second / b['floor'].per_second for b in mine):>8.3f} "
            f"{median(b[name].per_second / b['bare'].per_second for b in mine):>8.3f} "
            f"{median(r.p50_ms for r in of):>8.1f} {median(r.p99_ms for r in of):>8.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="also run Porchlight on this PostgreSQL server")
    args = parser.parse_args()
    rounds = asyncio.run(
        run(args.messages, args.concurrency, args.rate, args.seconds, args.postgres, args.rounds)
    )
    if len(rounds) > 1:
        print(report(rounds, args.rate))


if __name__ == "__main__":
    main()
