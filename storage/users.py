"""Dashboard accounts: advocates and administrators, with argon2id password hashes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.engine import SessionFactory
from storage.models import User, new_id, utcnow

ROLES = ("advocate", "admin")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12


class UserExists(ValueError):
    """Another account already has this username."""


class InvalidAccount(ValueError):
    """The username, role or password does not meet the account rules."""


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the rest of the service sees it: never the password hash."""

    id: str
    username: str
    role: str
    disabled: bool
    created_at: datetime


class UserStore:
    """Creates and authenticates dashboard accounts.

    The hasher is injectable because argon2's production cost makes tests slow; tests pass a
    cheap one from a fixture named ``insecure_password_hasher``.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._dummy_hash: str | None = None

    async def add_user(self, *, username: str, role: str, password: str) -> Account:
        """Create an account after checking the rules; the password is only kept hashed."""
        username = username.strip().lower()
        if not USERNAME_PATTERN.fullmatch(username):
            raise InvalidAccount(
                "username must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'"
            )
        if role not in ROLES:
            raise InvalidAccount(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidAccount(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        row = User(
            id=new_id(),
            username=username,
            role=role,
            password_hash=self._hasher.hash(password),
            disabled=False,
            created_at=self._clock(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise UserExists(username) from exc
        return _account(row)

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account if the password is right and the account is enabled, else None.

        A missing user still costs one hash so that timing does not reveal which usernames
        exist.
        """
        async with self._sessions() as session:
            row = await session.scalar(select(User).where(User.username == username.lower()))
        stored = row.password_hash if row else self._dummy_hash_for_timing()
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        return _account(row)

    def _dummy_hash_for_timing(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("timing-equaliser")
        return self._dummy_hash

    async def get_by_username(self, username: str) -> Account | None:
        """Look an account up by name."""
        async with self._sessions() as session:
            row = await session.scalar(select(User).where(User.username == username.lower()))
        return None if row is None else _account(row)


def _account(row: User) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=row.role,
        disabled=row.disabled,
        created_at=row.created_at,
    )
