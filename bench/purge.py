"""Benchmark: the retention purge, against a bare delete of the same rows.

    python -m bench.purge [--conversations 20000] [--messages 4] [--rounds 3]

Two identical SQLite databases (the service's own schema and pragmas, ``secure_delete``
included) are filled with conversations older than the retention period, each with its
wrapped data key, a few encrypted messages and an outbox row. Then:

- **floor**: one ``DELETE FROM conversations`` (the cascade takes keys, messages and outbox
  rows), the least any purge must do;
- **porchlight**: ``RetentionStore.purge``, batched, which also ends open handoffs, queues
  provider deletions for SMS copies, and reclaims the freed pages (incremental vacuum, WAL
  truncation).

Reported: conversations deleted per second, and the ratio to the floor in the same round,
for each round (fresh databases each time) and their medians: this machine's speed wanders
from minute to minute, by a quarter at times. Target (issue #8): >= 20,000 conversations/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.engine import create_engine, create_session_factory
from storage.migrate import upgrade_to_head
from storage.retention import RetentionStore

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
KEEP = timedelta(days=30)
CHUNK = 2000


async def fill(url: str, conversations: int, messages: int) -> None:
    """Old conversations with keys, messages and outbox rows (random bytes as ciphertext)."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    async with engine.begin() as connection:
        for start in range(0, conversations, CHUNK):
            rows = []
            for _ in range(min(CHUNK, conversations - start)):
                rows.append({"id": secrets.token_hex(16), "channel": "sms"})
            await connection.execute(
                text(
                    "INSERT INTO conversations (id, channel, pseudonym, status, script,"
                    " reply_address, flow_state, message_count, created_at,"
                    " last_activity_at) VALUES (:id, :channel, :id, 'ended', 'default@1',"
                    " :blob, :blob, 0, :at, :at)"
                ),
                [{**r, "blob": os.urandom(96), "at": LONG_AGO} for r in rows],
            )
            await connection.execute(
                text(
                    "INSERT INTO conversation_keys (conversation_id, master_key_id,"
                    " wrapped_key) VALUES (:id, 'bench', :key)"
                ),
                [{"id": r["id"], "key": os.urandom(60)} for r in rows],
            )
            await connection.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, seq, direction, sender, body,"
                    " provider_message_id, created_at) VALUES (:mid, :id, :seq, 'in',"
                    " 'person', :body, :sid, :at)"
                ),
                [
                    {
                        "mid": secrets.token_hex(16),
                        "id": r["id"],
                        "seq": seq,
                        "body": os.urandom(120),
                        "sid": "SM" + secrets.token_hex(16),
                        "at": LONG_AGO,
                    }
                    for r in rows
                    for seq in range(messages)
                ],
            )
            await connection.execute(
                text(
                    "INSERT INTO outbox (id, conversation_id, channel, seq, body, status,"
                    " attempts, next_attempt_at, provider_id, created_at) VALUES (:oid, :id,"
                    " 'sms', 1, :body, 'sent', 1, :at, :sid, :at)"
                ),
                [
                    {
                        "oid": secrets.token_hex(16),
                        "id": r["id"],
                        "body": os.urandom(120),
                        "sid": "SM" + secrets.token_hex(16),
                        "at": LONG_AGO,
                    }
                    for r in rows
                ],
            )
    await engine.dispose()


async def floor(url: str) -> float:
    engine = create_engine(url)
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM conversations"))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def porchlight(url: str) -> tuple[float, int]:
    engine = create_engine(url)
    store = RetentionStore(create_session_factory(engine))
    started = time.perf_counter()
    purged = await store.purge(KEEP)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed, purged.conversations


async def one_round(conversations: int, messages: int) -> tuple[float, float]:
    """Conversations per second: the floor's, then Porchlight's, on fresh databases."""
    with tempfile.TemporaryDirectory(prefix="porchlight-bench-purge-") as work:
        urls = {name: f"sqlite+aiosqlite:///{work}/{name}.db" for name in ("floor", "porchlight")}
        for url in urls.values():
            await fill(url, conversations, messages)
        floor_seconds = await floor(urls["floor"])
        seconds, purged = await porchlight(urls["porchlight"])
    assert purged == conversations, f"purged {purged} of {conversations}"
    return conversations / floor_seconds, conversations / seconds


async def run(conversations: int, messages: int, rounds: int) -> str:
    results = [await one_round(conversations, messages) for _ in range(rounds)]
    lines = [
        f"{conversations} conversations, {messages} messages and 1 outbox row each",
        "| round | floor conversations/s | porchlight conversations/s | x floor |",
        "| --- | ---: | ---: | ---: |",
    ]
    for number, (floor_rate, rate) in enumerate(results, start=1):
        lines.append(f"| {number} | {floor_rate:,.0f} | {rate:,.0f} | {rate / floor_rate:.2f} |")
    floor_median = statistics.median(f for f, _ in results)
    median = statistics.median(r for _, r in results)
    ratio = statistics.median(r / f for f, r in results)
    lines.append(f"| median | {floor_median:,.0f} | {median:,.0f} | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(asyncio.run(run(args.conversations, args.messages, args.rounds)))


if __name__ == "__main__":
    main()
