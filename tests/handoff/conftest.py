"""Shared by the handoff tests: a service rig with real stores and an SMS person, and
signed-in dashboard clients over real HTTP (each with its own cookies and CSRF token, as
separate browsers would have)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient

from bot.engine import InboundKind
from bot.script import load_builtin_script
from bot.service import ConversationService, TurnOutcome
from channels.base import InboundMessage
from config import Settings
from crypto import KeyRing, Pseudonymizer
from handoff.events import EventHub
from handoff.service import HandoffService
from porchlight.state import SERVICES
from storage.audit import AuditLog
from storage.conversations import ConversationStore
from storage.engine import SessionFactory
from storage.handoffs import HandoffStore
from storage.presence import PresenceStore
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.rota import RotaStore
from storage.users import Account, UserStore
from tests.clock import FakeClock
from tests.outbox import queued_messages

PHONE = "+15550104417"
OTHER_PHONE = "+15550104418"


@dataclass
class Rig:
    clock: FakeClock
    conversations: ConversationService
    store: ConversationStore
    handoffs: HandoffStore
    presence: PresenceStore
    service: HandoffService
    events: EventHub
    audit: AuditLog
    users: UserStore
    sessions: SessionFactory
    keyring: KeyRing
    rota: RotaStore

    async def say(self, text: str, phone: str = PHONE, channel: str = "sms") -> TurnOutcome:
        kind = InboundKind.TEXT
        return await self.conversations.handle(
            InboundMessage(channel=channel, address=phone, kind=kind, text=text)
        )

    async def ask_for_a_person(self, phone: str = PHONE) -> str:
        """Hello -> safe to talk -> talk -> 'any time': returns the new handoff's id."""
        for text in ("hello", "1", "1", "1"):
            await self.say(text, phone)
        conversation = await self.store.find_active(
            "sms", Pseudonymizer.from_keyring(self.keyring).pseudonym("sms", phone)
        )
        assert conversation is not None
        handoff = await self.handoffs.open_for_conversation(conversation.id)
        assert handoff is not None
        return handoff.id

    async def advocate(self, name: str, available: bool = True, role: str = "advocate") -> Account:
        account = await self.users.add_user(username=name, role=role, password="a" * 12)
        if available:
            await self.presence.set_available(account.id, True)
        return account

    async def outbox_texts(self) -> list[str]:
        return [text for _, text in await queued_messages(self.sessions, self.keyring)]


def build_rig(
    sessions: SessionFactory,
    keyring: KeyRing,
    settings: Settings,
    resources: ResourceStore,
    reports: ReportStore,
    users: UserStore,
) -> Rig:
    clock = FakeClock()
    store = ConversationStore(sessions, keyring, clock=clock)
    conversations = ConversationService(
        store,
        Pseudonymizer.from_keyring(keyring),
        load_builtin_script("default"),
        resources=resources,
        reports=reports,
        outbox_channels=frozenset({"sms", "telegram"}),
        clock=clock,
    )
    handoffs = HandoffStore(sessions, keyring, clock=clock)
    presence = PresenceStore(sessions, clock=clock)
    events = EventHub()
    audit = AuditLog(sessions, clock=clock)
    rota = RotaStore(sessions)
    service = HandoffService(
        handoffs=handoffs,
        presence=presence,
        conversations=conversations,
        conversation_store=store,
        channels={},
        events=events,
        audit=audit,
        settings=settings,
        rota=rota,
        clock=clock,
    )
    conversations.attach_handoffs(service)
    return Rig(
        clock, conversations, store, handoffs, presence, service, events, audit, users,
        sessions, keyring, rota,
    )  # fmt: skip


@pytest.fixture
def rig(
    sessions: SessionFactory,
    keyring: KeyRing,
    settings: Settings,
    resource_store: ResourceStore,
    report_store: ReportStore,
    user_store: UserStore,
) -> Rig:
    return build_rig(sessions, keyring, settings, resource_store, report_store, user_store)


PASSWORD = "correct horse battery"


@dataclass
class Dashboard:
    """One signed-in person's browser, as far as the API is concerned."""

    http: TestClient[Any, Any]
    account: Account
    csrf: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf}
        response = await self.http.request(method, "/api/v1" + path, json=body, headers=headers)
        data = await response.json() if response.content_type == "application/json" else None
        return response.status, data


SignIn = Callable[..., Awaitable[Dashboard]]


@pytest.fixture
async def sign_in(client: TestClient[Any, Any], app: web.Application) -> AsyncIterator[SignIn]:
    opened: list[TestClient[Any, Any]] = []

    async def make(username: str, role: str = "advocate", available: bool = True) -> Dashboard:
        account = await app[SERVICES].users.add_user(
            username=username, role=role, password=PASSWORD
        )
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[client.make_url("/")])
        http: TestClient[Any, Any] = TestClient(client.server, cookie_jar=jar)
        await http.start_server()
        opened.append(http)
        response = await http.post(
            "/api/v1/session", json={"username": username, "password": PASSWORD}
        )
        assert response.status == 200, await response.text()
        dashboard = Dashboard(http, account, (await response.json())["csrf_token"])
        if available:
            assert (await dashboard.call("PUT", "/me/availability", {"available": True}))[0] == 200
        return dashboard

    yield make
    for http in opened:
        await http.close()
