import pytest

from storage.users import InvalidAccount, UserExists, UserStore


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
    user_store: UserStore, sessions
) -> None:
    from sqlalchemy import select

    from storage.models import User

    await user_store.add_user(username="kim", role="advocate", password="canary-pass-9917")
    async with sessions() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$")
    assert "canary-pass-9917" not in stored
