import asyncio
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from crypto import KeyRing
from crypto.errors import DecryptError
from storage.engine import SessionFactory
from storage.models import User
from storage.users import InvalidAccount, TwoFactorUnavailable, UserExists, UserStore
from tests.clock import FakeClock

PASSWORD = "correct horse battery"


async def test_an_added_user_can_log_in_with_their_password_only(user_store: UserStore) -> None:
    account = await user_store.add_user(
        username="Robin", role="advocate", password="correct horse battery"
    )

    assert account.username == "robin"
    assert await user_store.authenticate("robin", "correct horse battery") == account
    assert await user_store.authenticate("ROBIN", "correct horse battery") == account
    assert await user_store.authenticate("robin", "wrong password here") is None
    assert await user_store.authenticate("nobody", "correct horse battery") is None


@pytest.mark.parametrize(
    ("username", "role", "password", "problem"),
    [
        ("x", "advocate", "long enough password", "username"),
        ("has space", "advocate", "long enough password", "username"),
        ("robin", "root", "long enough password", "role"),
        ("robin", "admin", "short", "at least 12"),
    ],
)
async def test_bad_accounts_are_refused_with_a_reason_and_nothing_stored(
    user_store: UserStore, username: str, role: str, password: str, problem: str
) -> None:
    with pytest.raises(InvalidAccount, match=problem):
        await user_store.add_user(username=username, role=role, password=password)
    assert await user_store.get_by_username(username) is None


async def test_usernames_are_unique(user_store: UserStore) -> None:
    await user_store.add_user(username="sam", role="admin", password="first password 1")
    with pytest.raises(UserExists):
        await user_store.add_user(username="sam", role="advocate", password="second password 2")
    sam = await user_store.get_by_username("sam")
    assert sam is not None
    assert sam.role == "admin"


async def test_the_password_is_stored_only_as_an_argon2id_hash(
    user_store: UserStore, sessions: SessionFactory
) -> None:
    await user_store.add_user(username="kim", role="advocate", password="canary-pass-9917")
    async with sessions() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "canary-pass-9917" not in stored


# -- lockout ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_store(
    sessions: SessionFactory,
    insecure_password_hasher: PasswordHasher,
    keyring: KeyRing,
    clock: FakeClock,
) -> UserStore:
    return UserStore(sessions, insecure_password_hasher, clock=clock, keyring=keyring)


async def test_five_failures_lock_for_a_minute_then_doubling_up_to_an_hour(
    timed_store: UserStore, clock: FakeClock
) -> None:
    kim = await timed_store.add_user(username="kim", role="advocate", password=PASSWORD)
    for _ in range(4):
        assert await timed_store.record_failed_login(kim.id) is None
    assert await timed_store.locked_until("kim") is None

    lockouts = []
    for _ in range(8):
        until = await timed_store.record_failed_login(kim.id)
        assert until is not None
        assert await timed_store.locked_until("KIM") == until
        lockouts.append(until - clock.now)
    assert lockouts == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]

    clock.advance(hours=1, seconds=1)
    assert await timed_store.locked_until("kim") is None


async def test_a_successful_sign_in_starts_the_count_again(
    timed_store: UserStore, clock: FakeClock
) -> None:
    kim = await timed_store.add_user(username="kim", role="advocate", password=PASSWORD)
    for _ in range(5):
        await timed_store.record_failed_login(kim.id)
    clock.advance(minutes=2)
    await timed_store.record_login(kim.id)
    for _ in range(4):
        assert await timed_store.record_failed_login(kim.id) is None
    assert await timed_store.locked_until("kim") is None


async def test_parallel_failures_are_all_counted(timed_store: UserStore, clock: FakeClock) -> None:
    kim = await timed_store.add_user(username="kim", role="advocate", password=PASSWORD)
    await asyncio.gather(*(timed_store.record_failed_login(kim.id) for _ in range(12)))
    # Twelve failures: locked for the longest time. A lost update would lock for less.
    assert await timed_store.locked_until("kim") == clock.now + timedelta(hours=1)


async def test_failures_of_an_unknown_account_change_nothing(timed_store: UserStore) -> None:
    assert await timed_store.record_failed_login("no-such-id") is None
    assert await timed_store.locked_until("nobody") is None


# -- accounts ---------------------------------------------------------------------------


async def test_accounts_are_listed_by_name_and_found_by_id(user_store: UserStore) -> None:
    zoe = await user_store.add_user(username="zoe", role="admin", password=PASSWORD)
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    assert await user_store.list_users() == [ana, zoe]
    assert await user_store.get(zoe.id) == zoe
    assert await user_store.get("no-such-id") is None


async def test_a_disabled_account_cannot_sign_in_even_with_its_password(
    user_store: UserStore,
) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    assert await user_store.set_disabled(ana.id, True)
    assert await user_store.authenticate("ana", PASSWORD) is None
    found = await user_store.get(ana.id)
    assert found is not None
    assert found.disabled
    assert await user_store.set_disabled(ana.id, False)
    assert await user_store.authenticate("ana", PASSWORD) is not None
    assert not await user_store.set_disabled("no-such-id", True)


# -- two-factor -------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def test_the_two_factor_secret_is_stored_sealed(
    user_store: UserStore, sessions: SessionFactory
) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    assert not ana.totp_enrolled
    await user_store.set_totp_secret(ana.id, SECRET)

    async with sessions() as session:
        stored = await session.scalar(select(User.totp_secret).where(User.id == ana.id))
    assert stored is not None
    assert SECRET.encode() not in bytes(stored)
    assert await user_store.totp_secret(ana.id) == SECRET
    found = await user_store.get(ana.id)
    assert found is not None
    assert found.totp_enrolled


async def test_a_sealed_secret_copied_to_another_account_does_not_open(
    user_store: UserStore, sessions: SessionFactory
) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    bob = await user_store.add_user(username="bob", role="advocate", password=PASSWORD)
    await user_store.set_totp_secret(ana.id, SECRET)
    async with sessions.begin() as session:
        stolen = await session.scalar(select(User.totp_secret).where(User.id == ana.id))
        await session.execute(update(User).where(User.id == bob.id).values(totp_secret=stolen))
    with pytest.raises(DecryptError):
        await user_store.totp_secret(bob.id)


async def test_a_store_without_the_key_ring_refuses_two_factor(
    sessions: SessionFactory, insecure_password_hasher: PasswordHasher
) -> None:
    store = UserStore(sessions, insecure_password_hasher)
    ana = await store.add_user(username="ana", role="advocate", password=PASSWORD)
    with pytest.raises(TwoFactorUnavailable):
        await store.set_totp_secret(ana.id, SECRET)
    assert await store.totp_secret(ana.id) is None


async def test_each_time_step_is_accepted_once_and_never_an_older_one(
    user_store: UserStore,
) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    await user_store.set_totp_secret(ana.id, SECRET)
    assert await user_store.use_totp_step(ana.id, 1000)
    assert not await user_store.use_totp_step(ana.id, 1000), "the same code twice"
    assert not await user_store.use_totp_step(ana.id, 999), "an older code after a newer one"
    assert await user_store.use_totp_step(ana.id, 1001)


async def test_a_new_secret_or_a_reset_starts_afresh(user_store: UserStore) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password=PASSWORD)
    await user_store.set_totp_secret(ana.id, SECRET)
    assert await user_store.use_totp_step(ana.id, 1000)
    await user_store.clear_totp(ana.id)
    found = await user_store.get(ana.id)
    assert found is not None
    assert not found.totp_enrolled
    assert await user_store.totp_secret(ana.id) is None
    await user_store.set_totp_secret(ana.id, SECRET)
    assert await user_store.use_totp_step(ana.id, 1000)
