"""Fixtures shared by the whole suite: settings, keys, a fresh database per test, the app.

Every test gets its own DATA_DIR and database. Real network access is refused outright:
fakes of external services run on loopback, so any other address is a bug in the test.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.directory import load_demo_directory
from config import Settings
from crypto import KeyRing, ReceiptHasher
from porchlight.app import create_app
from porchlight.logs import quiet_third_party_loggers
from storage.conversations import ConversationStore
from storage.engine import SessionFactory, create_engine, create_session_factory
from storage.migrate import upgrade_to_head
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.users import UserStore
from tests import factories
from tests.factories import make_settings
from tests.postgres import (
    TEMPLATE,
    create_migrated_template,
    drop_template,
    fresh_postgres_url,
    whole_suite_on_postgres,
)


class RealNetworkUsed(AssertionError):
    """A test tried to reach a non-loopback address."""


def _is_local(address: Any) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost means DNS, i.e. the real network


@pytest.fixture(autouse=True)
def refuse_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects anywhere but loopback (like PTB's OfflineRequest)."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise RealNetworkUsed(f"test tried to reach {address!r}")
        return original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise RealNetworkUsed(f"test tried to reach {address!r}")
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def _quiet_loggers() -> None:
    quiet_third_party_loggers()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """The migrated template each test's database is cloned from (PostgreSQL runs only)."""
    if not whole_suite_on_postgres():
        yield None
        return
    asyncio.run(create_migrated_template())
    yield TEMPLATE
    asyncio.run(drop_template())


@pytest.fixture(autouse=True)
async def test_database(
    request: pytest.FixtureRequest, postgres_template: str | None
) -> AsyncIterator[None]:
    """On a PostgreSQL run, point this test's settings at a database of its own."""
    if postgres_template is None:
        yield
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("a property of the SQLite files (the PostgreSQL run skips it)")
    async for url in fresh_postgres_url(postgres_template):
        factories.test_database_url = url
        try:
            yield
        finally:
            factories.test_database_url = None


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (see tests/postgres.py)."""
    async for url in fresh_postgres_url():
        yield url


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def insecure_password_hasher() -> PasswordHasher:
    """argon2 at its cheapest: the production cost would make the suite crawl."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def insecure_receipt_hasher(keyring: KeyRing) -> ReceiptHasher:
    """argon2id for receipt codes at its cheapest."""
    return ReceiptHasher(keyring, time_cost=1, memory_cost=8)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
def conversation_store(sessions: SessionFactory, keyring: KeyRing) -> ConversationStore:
    return ConversationStore(sessions, keyring)


@pytest.fixture
def report_store(
    sessions: SessionFactory, keyring: KeyRing, insecure_receipt_hasher: ReceiptHasher
) -> ReportStore:
    return ReportStore(sessions, keyring, insecure_receipt_hasher)


@pytest.fixture
async def resource_store(sessions: SessionFactory) -> ResourceStore:
    store = ResourceStore(sessions)
    await store.add_all(load_demo_directory())
    return store


@pytest.fixture
def user_store(
    sessions: SessionFactory, insecure_password_hasher: PasswordHasher, keyring: KeyRing
) -> UserStore:
    return UserStore(sessions, insecure_password_hasher, keyring=keyring)


MakeApp = Callable[..., web.Application]

# Workers that react at once and no provider rate limits: the fakes have none, and
# RateLimiter has its own test.
FAST_WORKERS: dict[str, Any] = {"outbox_interval": 0.02, "timer_interval": 0.02, "rate_limits": {}}


@pytest.fixture
def make_app(
    keyring: KeyRing,
    insecure_password_hasher: PasswordHasher,
    insecure_receipt_hasher: ReceiptHasher,
) -> MakeApp:
    """create_app with the test key ring and cheap hashers; keyword arguments override."""

    def make(settings: Settings, **overrides: Any) -> web.Application:
        options: dict[str, Any] = {
            "keyring": keyring,
            "password_hasher": insecure_password_hasher,
            "receipt_hasher": insecure_receipt_hasher,
            **overrides,
        }
        return create_app(settings, **options)

    return make


@pytest.fixture
def app(settings: Settings, make_app: MakeApp) -> web.Application:
    return make_app(settings)


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client
