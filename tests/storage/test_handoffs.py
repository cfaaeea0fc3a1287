"""The handoff store's concurrency guarantees, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from config import Settings
from crypto import KeyRing
from storage.conversations import ConversationStore
from storage.engine import SessionFactory, create_engine, create_session_factory
from storage.handoffs import CLAIMED, HandoffAlreadyClaimed, HandoffStore
from storage.migrate import upgrade_to_head
from storage.users import UserStore


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "sqlite":
        return settings.database_url
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    yield create_session_factory(engine)
    await engine.dispose()


async def waiting(database: SessionFactory, keyring: KeyRing, count: int) -> list[str]:
    conversations = ConversationStore(database, keyring)
    handoffs = HandoffStore(database, keyring)
    ids = []
    for number in range(count):
        conversation = await conversations.start_conversation(
            channel="webchat",
            pseudonym=f"{number:064d}",
            reply_address=f"token-{number}",
            script="default",
            flow_state={},
        )
        handoff, _ = await handoffs.open_handoff(
            conversation_id=conversation.id,
            channel="webchat",
            alias=conversation.alias,
            priority="normal",
        )
        ids.append(handoff.id)
    return ids


async def advocates(database: SessionFactory, hasher: PasswordHasher, count: int) -> list[str]:
    users = UserStore(database, hasher)
    return [
        (await users.add_user(username=f"advocate{n}", role="advocate", password="p" * 12)).id
        for n in range(count)
    ]


async def test_of_many_simultaneous_claims_on_one_conversation_exactly_one_wins(
    database: SessionFactory, keyring: KeyRing, insecure_password_hasher: PasswordHasher
) -> None:
    (handoff_id,) = await waiting(database, keyring, 1)
    people = await advocates(database, insecure_password_hasher, 6)
    store = HandoffStore(database, keyring)
    results = await asyncio.gather(
        *(store.claim_handoff(handoff_id, user, capacity=3) for user in people),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, HandoffAlreadyClaimed) for r in results if r not in winners)
    assert (await store.get(handoff_id)).claimed_by == winners[0].claimed_by


async def test_advocates_taking_the_next_one_at_once_each_get_a_different_one(
    database: SessionFactory, keyring: KeyRing, insecure_password_hasher: PasswordHasher
) -> None:
    handoff_ids = await waiting(database, keyring, 3)
    people = await advocates(database, insecure_password_hasher, 4)
    store = HandoffStore(database, keyring)
    taken = await asyncio.gather(*(store.claim_next(user, capacity=3) for user in people))
    claimed = [h for h in taken if h is not None]
    assert sorted(h.id for h in claimed) == sorted(handoff_ids)
    assert len({h.claimed_by for h in claimed}) == 3
    assert taken.count(None) == 1  # the fourth found nobody left
    assert {(await store.get(i)).status for i in handoff_ids} == {CLAIMED}
