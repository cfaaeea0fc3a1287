"""Dashboard sessions: hashed tokens, idle and absolute expiry, signing out."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from storage.engine import SessionFactory, sqlite_files
from storage.models import DashboardSession
from storage.sessions import SessionStore
from storage.users import Account, UserStore
from tests.clock import FakeClock

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(sessions: SessionFactory, clock: FakeClock) -> SessionStore:
    return SessionStore(sessions, clock=clock)


async def person(user_store: UserStore, name: str = "ana") -> Account:
    return await user_store.add_user(username=name, role="advocate", password=PASSWORD)


async def stored_rows(sessions: SessionFactory) -> list[DashboardSession]:
    async with sessions() as session:
        return list(await session.scalars(select(DashboardSession)))


async def test_only_a_hash_of_the_cookie_token_is_stored(
    store: SessionStore, user_store: UserStore, sessions: SessionFactory
) -> None:
    ana = await person(user_store)
    token, signed_in = await store.create(ana.id)

    [row] = await stored_rows(sessions)
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_digest, row.csrf_token)
    assert await store.find(token) == signed_in
    assert await store.find(row.token_digest) is None, "the stored digest is not a token"


async def test_every_session_gets_its_own_token_and_csrf_token(
    store: SessionStore, user_store: UserStore
) -> None:
    ana = await person(user_store)
    first_token, first = await store.create(ana.id)
    second_token, second = await store.create(ana.id)
    assert first_token != second_token
    assert first.csrf_token != second.csrf_token
    assert len(first_token) >= 43  # 32 random bytes, URL-safe base64


async def test_a_session_in_use_stays_and_an_idle_one_ends_after_30_minutes(
    store: SessionStore, user_store: UserStore, sessions: SessionFactory, clock: FakeClock
) -> None:
    ana = await person(user_store)
    token, _ = await store.create(ana.id)
    for _ in range(3):
        clock.advance(minutes=29)
        assert await store.find(token) is not None  # each use starts the 30 minutes again
    clock.advance(minutes=30, seconds=1)
    assert await store.find(token) is None
    assert await stored_rows(sessions) == [], "an expired session is deleted, not kept"


async def test_a_session_ends_12_hours_after_sign_in_however_busy(
    store: SessionStore, user_store: UserStore, clock: FakeClock
) -> None:
    ana = await person(user_store)
    token, _ = await store.create(ana.id)
    for _ in range(47):
        clock.advance(minutes=15)
        assert await store.find(token) is not None
    clock.advance(minutes=15, seconds=1)  # 12 h and a second
    assert await store.find(token) is None


async def test_signing_out_ends_that_session_only(
    store: SessionStore, user_store: UserStore
) -> None:
    ana = await person(user_store)
    laptop, laptop_session = await store.create(ana.id)
    tablet, _ = await store.create(ana.id)
    await store.end(laptop_session.digest)
    assert await store.find(laptop) is None
    assert await store.find(tablet) is not None


async def test_ending_all_of_a_persons_sessions_leaves_colleagues_signed_in(
    store: SessionStore, user_store: UserStore
) -> None:
    ana, bob = await person(user_store, "ana"), await person(user_store, "bob")
    ana_tokens = [(await store.create(ana.id))[0] for _ in range(2)]
    bob_token, _ = await store.create(bob.id)
    await store.end_all_for(ana.id)
    assert [await store.find(t) for t in ana_tokens] == [None, None]
    assert await store.find(bob_token) is not None


async def test_sessions_nobody_came_back_to_are_swept_at_the_next_sign_in(
    store: SessionStore, user_store: UserStore, sessions: SessionFactory, clock: FakeClock
) -> None:
    ana, bob = await person(user_store, "ana"), await person(user_store, "bob")
    await store.create(ana.id)
    await store.create(ana.id)
    clock.advance(minutes=31)
    await store.create(bob.id)
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(DashboardSession))
    assert left == 1


@pytest.mark.sqlite_only  # PostgreSQL locks the row it reads: an ending waits for the check
async def test_a_session_ended_while_it_is_being_checked_is_not_found_rather_than_an_error(
    store: SessionStore,
    user_store: UserStore,
    engine: AsyncEngine,
    settings: Settings,
    clock: FakeClock,
) -> None:
    ana = await person(user_store)
    token, _ = await store.create(ana.id)
    clock.advance(minutes=1)  # so the check has a time of last use to update

    def end_it_first(connection: object, cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE dashboard_sessions"):  # another admin disables ana
            other = sqlite3.connect(sqlite_files(settings.database_url)[0])
            with other:
                other.execute("DELETE FROM dashboard_sessions")
            other.close()

    event.listen(engine.sync_engine, "before_cursor_execute", end_it_first)
    try:
        assert await store.find(token) is None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", end_it_first)
    assert await store.find(token) is None
