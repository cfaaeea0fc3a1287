"""Dashboard accounts: advocates and administrators, with argon2id password hashes.

Hashing runs in a worker thread: argon2 is slow on purpose, and a sign-in (or a flood of
them) must not stall the event loop that carries every survivor's web chat.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import FieldCipher, KeyRing
from crypto.cipher import field_aad
from storage.engine import SessionFactory
from storage.handoffs import CLAIMED, WAITING
from storage.models import Handoff, User, new_id, utcnow

ROLES = ("advocate", "admin")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
# Lockout: after this many failures in a row, wait a minute, doubling with each further
# failure up to an hour. Slow enough to stop guessing, short enough not to lock out a
# tired advocate for the night.
FAILURES_BEFORE_LOCKOUT = 5
FIRST_LOCKOUT = timedelta(minutes=1)
LONGEST_LOCKOUT = timedelta(hours=1)


class UserExists(ValueError):
    """Another account already has this username."""


class InvalidAccount(ValueError):
    """The username, role or password does not meet the account rules."""


class UnknownUser(LookupError):
    """No account has this id."""


class LastAdmin(Exception):
    """The change would leave nobody enabled who can manage accounts."""


class TwoFactorUnavailable(RuntimeError):
    """This store was built without the key ring, so it cannot seal two-factor secrets."""


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the rest of the service sees it: never the password hash."""

    id: str
    username: str
    role: str
    disabled: bool
    created_at: datetime
    totp_enrolled: bool = False


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
        keyring: KeyRing | None = None,
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        # Seals two-factor secrets; without a key ring, two-factor cannot be enrolled.
        self._totp_cipher = FieldCipher(keyring.derive("totp-secrets")) if keyring else None
        self._dummy_hash: str | None = None

    async def add_user(self, *, username: str, role: str, password: str) -> Account:
        """Create an account after checking the rules; the password is only kept hashed."""
        username = username.strip().lower()
        if not USERNAME_PATTERN.fullmatch(username):
            raise InvalidAccount(
                "username must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'"
            )
        _check_role(role)
        row = User(
            id=new_id(),
            username=username,
            role=role,
            password_hash=await self._hash_new_password(password),
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
        stored = row.password_hash if row else await self._dummy_hash_for_timing()
        try:
            await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        return _account(row)

    async def _dummy_hash_for_timing(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, "timing-equaliser")
        return self._dummy_hash

    async def get_by_username(self, username: str) -> Account | None:
        """Look an account up by name."""
        async with self._sessions() as session:
            row = await session.scalar(select(User).where(User.username == username.lower()))
        return None if row is None else _account(row)

    async def get(self, user_id: str) -> Account | None:
        """Look an account up by id."""
        async with self._sessions() as session:
            row = await session.get(User, user_id)
        return None if row is None else _account(row)

    async def list_users(self) -> list[Account]:
        """Every account, by username."""
        async with self._sessions() as session:
            rows = await session.scalars(select(User).order_by(User.username))
            return [_account(r) for r in rows]

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Switch an account off (or on again); False if there is no such account.

        A disabled account cannot sign in, and its open sessions stop working at their next
        request; callers should still end them (``SessionStore.end_all_for``) at once.
        Switching someone off on an admin's behalf goes through :meth:`disable` instead,
        which keeps an admin enabled and frees the conversations the account holds.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(User).where(User.id == user_id).values(disabled=disabled)
            )
            return bool(getattr(result, "rowcount", 0))

    async def disable(self, user_id: str) -> list[str]:
        """Switch an account off, take it off call, and put what it holds back in the queue.

        Returns the ids of the handoffs put back. It is one transaction on purpose: there is
        no moment at which a disabled account still holds a conversation (the person would
        be talking to nobody), and no moment at which a claim could slip in between. The
        handoffs go back as if never claimed (no offer, nobody offered yet), so the handoff
        worker offers them afresh on its next round.

        Raises:
            UnknownUser: there is no such account.
            LastAdmin: it is the last enabled administrator.
        """
        async with self._sessions.begin() as session:
            await _lock_admins(session)
            row = await self._row_for_update(session, user_id)
            if row.role == "admin" and not row.disabled:
                await _keep_an_admin(session, user_id)
            row.disabled = True
            row.available = False
            held = select(Handoff.id).where(
                Handoff.status == CLAIMED, Handoff.claimed_by == user_id
            )
            released = list(await session.scalars(held.with_for_update()))
            if released:
                await session.execute(
                    update(Handoff)
                    .where(Handoff.id.in_(released), Handoff.status == CLAIMED)
                    .values(
                        status=WAITING,
                        claimed_by=None,
                        claimed_at=None,
                        offered_to=None,
                        offered_at=None,
                        offered_before="",
                    )
                )
            return released

    async def set_role(self, user_id: str, role: str) -> None:
        """Make an account an advocate or an administrator; it takes effect at its next request.

        Raises:
            InvalidAccount: not a known role.
            UnknownUser: there is no such account.
            LastAdmin: it would demote the last enabled administrator.
        """
        _check_role(role)
        async with self._sessions.begin() as session:
            await _lock_admins(session)
            row = await self._row_for_update(session, user_id)
            if row.role == "admin" and role != "admin" and not row.disabled:
                await _keep_an_admin(session, user_id)
            row.role = role

    async def set_password(self, user_id: str, password: str) -> None:
        """Replace the password (an admin's reset), with the same rules as ``add_user``.

        The lockout is cleared too: a reset is how a locked-out advocate gets back in.

        Raises:
            InvalidAccount: the password is too short.
            UnknownUser: there is no such account.
        """
        password_hash = await self._hash_new_password(password)
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=password_hash, failed_logins=0, locked_until=None)
            )
            if not getattr(result, "rowcount", 0):
                raise UnknownUser(user_id)

    async def _hash_new_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidAccount(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _row_for_update(self, session: AsyncSession, user_id: str) -> User:
        row = await session.get(User, user_id, with_for_update=True)
        if row is None:
            raise UnknownUser(user_id)
        return row

    # -- lockout ----------------------------------------------------------------------

    async def locked_until(self, username: str) -> datetime | None:
        """Until when this account refuses sign-in, if it is locked now."""
        async with self._sessions() as session:
            until = await session.scalar(
                select(User.locked_until).where(User.username == username.lower())
            )
        return until if until is not None and until > self._clock() else None

    async def record_failed_login(self, user_id: str) -> datetime | None:
        """Count a failure; from the fifth in a row, lock for 1 min, 2, 4, … up to an hour.

        Returns until when the account is now locked, if this failure locked it. The count
        goes up in one ``UPDATE``, so a burst of parallel guesses cannot lose any of them.
        """
        async with self._sessions.begin() as session:
            failures = await session.scalar(
                update(User)
                .where(User.id == user_id)
                .values(failed_logins=User.failed_logins + 1)
                .returning(User.failed_logins)
            )
            if failures is None or failures < FAILURES_BEFORE_LOCKOUT:
                return None
            beyond = failures - FAILURES_BEFORE_LOCKOUT
            until = self._clock() + min(FIRST_LOCKOUT * 2 ** min(beyond, 10), LONGEST_LOCKOUT)
            await session.execute(update(User).where(User.id == user_id).values(locked_until=until))
            return until

    async def record_login(self, user_id: str) -> None:
        """A successful sign-in clears the failure count."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(failed_logins=0, locked_until=None)
            )

    # -- two-factor -------------------------------------------------------------------

    async def set_totp_secret(self, user_id: str, secret: str) -> None:
        """Store a confirmed two-factor secret, sealed; resets replay protection."""
        cipher = self._require_cipher()
        sealed = cipher.seal_text(secret, field_aad("users", "totp_secret", user_id))
        async with self._sessions.begin() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(totp_secret=sealed, totp_last_step=None)
            )

    async def clear_totp(self, user_id: str) -> None:
        """Remove two-factor (an admin's reset): the account must enrol again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(totp_secret=None, totp_last_step=None)
            )

    async def totp_secret(self, user_id: str) -> str | None:
        """The account's two-factor secret, if it has one."""
        async with self._sessions() as session:
            sealed = await session.scalar(select(User.totp_secret).where(User.id == user_id))
        if sealed is None:
            return None
        return self._require_cipher().open_text(sealed, field_aad("users", "totp_secret", user_id))

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Accept a code's time step once: False if it (or a later one) was already used."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(User)
                .where(
                    User.id == user_id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return bool(getattr(result, "rowcount", 0))

    def _require_cipher(self) -> FieldCipher:
        if self._totp_cipher is None:
            raise TwoFactorUnavailable("UserStore needs the key ring for two-factor secrets")
        return self._totp_cipher


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidAccount(f"role must be one of {', '.join(ROLES)}")


async def _lock_admins(session: AsyncSession) -> None:
    """Lock the enabled admins' rows, as the transaction's first statement.

    Two admins disabling each other at the same moment must not both succeed. A write that
    changes nothing does it on both databases: PostgreSQL locks the rows (the second
    transaction waits, then sees the first one's change), and SQLite takes its one write
    lock before the transaction has read anything, so it never works from a stale snapshot.
    """
    await session.execute(
        update(User)
        .where(User.role == "admin", User.disabled.is_(False))
        .values(role=User.role)
        .execution_options(synchronize_session=False)
    )


async def _keep_an_admin(session: AsyncSession, leaving: str) -> None:
    """Refuse to switch off or demote ``leaving`` if no other enabled admin would be left."""
    admins = await session.scalars(
        select(User.id).where(User.role == "admin", User.disabled.is_(False))
    )
    if not [admin for admin in admins if admin != leaving]:
        raise LastAdmin(leaving)


def _account(row: User) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=row.role,
        disabled=row.disabled,
        created_at=row.created_at,
        totp_enrolled=row.totp_secret is not None,
    )
