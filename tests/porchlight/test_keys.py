"""Rotating the master key: online, nothing lost, and afterwards the old key is not needed."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from config import Settings
from crypto import KeyRing, Pseudonymizer, ReceiptHasher
from crypto.keyring import KEY_FILE_NAME
from porchlight import keys
from porchlight.app import create_app
from porchlight.cli import main
from porchlight.state import SERVICES
from storage.conversations import ACTIVE, ConversationStore, NewMessage
from storage.engine import SessionFactory, create_engine, create_session_factory
from storage.inbound import InboundLedger
from storage.migrate import upgrade_to_head
from storage.reports import ReportStore
from storage.service_keys import ServiceKeyStore
from storage.users import UserStore
from tests.channels.webchat.test_websocket import WS, receive_until_options
from tests.factories import make_settings

PHONE = "+15550104417"
SECRET_WORDS = "he said he would find me"


async def open_stores(settings: Settings) -> tuple[Any, SessionFactory, KeyRing]:
    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    sessions = create_session_factory(engine)
    keyring = KeyRing.load(None, settings.data_dir)
    await ServiceKeyStore(sessions).pin_all(keyring)
    return engine, sessions, keyring


def age_key_file(settings: Settings, seconds: float) -> None:
    path = settings.data_dir / KEY_FILE_NAME
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_after_rotate_and_retire_everything_opens_without_the_old_key(
    settings: Settings, insecure_password_hasher: PasswordHasher
) -> None:
    engine, sessions, keyring = await open_stores(settings)
    old_key = keyring.current.key_id
    conversations = ConversationStore(sessions, keyring)
    pseudonym = Pseudonymizer.from_keyring(keyring).pseudonym("sms", PHONE)
    conversation = await conversations.start_conversation(
        channel="sms", pseudonym=pseudonym, reply_address=PHONE, script="default", flow_state={}
    )
    await conversations.record_turn(
        conversation.id,
        flow_state={},
        status=ACTIVE,
        messages=[NewMessage("in", "person", SECRET_WORDS)],
    )
    receipts = ReceiptHasher(keyring, time_cost=1, memory_cost=8)
    code = await ReportStore(sessions, keyring, receipts).submit("sms", {"what": SECRET_WORDS})
    users = UserStore(sessions, insecure_password_hasher, keyring=keyring)
    ana = await users.add_user(username="ana", role="advocate", password="p" * 12)
    totp = pyotp.random_base32()
    await users.set_totp_secret(ana.id, totp)
    ledger = InboundLedger(sessions, keyring)
    assert await ledger.record(ledger.delivery("sms", "SM0001"))
    await engine.dispose()

    rotated = await keys.rotate(settings)
    assert rotated.current_key != old_key
    assert rotated.rewrapped >= 6  # a conversation key, a report key, four purpose keys
    with pytest.raises(keys.RotationRefused, match="wait"):
        await keys.retire(settings)  # too soon: running instances may still use the old key
    age_key_file(settings, keys.SETTLE_SECONDS + 1)
    retired = await keys.retire(settings)
    assert retired.retired == (old_key,)

    engine, sessions, fresh = await open_stores(settings)
    try:
        assert fresh.key_ids == (rotated.current_key,), "the old key is gone from the file"
        store = ConversationStore(sessions, fresh)
        assert [m.text for m in await store.messages(conversation.id)] == [SECRET_WORDS]
        assert (await store.get(conversation.id)).reply_address == PHONE
        assert Pseudonymizer.from_keyring(fresh).pseudonym("sms", PHONE) == pseudonym
        hasher = ReceiptHasher(fresh, time_cost=1, memory_cost=8)
        assert await ReportStore(sessions, fresh, hasher).add_to(code, "one more thing")
        users = UserStore(sessions, insecure_password_hasher, keyring=fresh)
        assert await users.totp_secret(ana.id) == totp
        ledger = InboundLedger(sessions, fresh)
        assert not await ledger.record(ledger.delivery("sms", "SM0001"))
    finally:
        await engine.dispose()


async def test_rotation_needs_the_key_file(data_dir: Path) -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(keys.RotationRefused, match="PORCHLIGHT_MASTER_KEY"):
        await keys.rotate(make_settings(data_dir, master_key=secret))


async def test_a_running_service_carries_on_through_a_rotation(
    settings: Settings, aiohttp_client: Any, insecure_password_hasher: PasswordHasher
) -> None:
    app = create_app(settings, password_hasher=insecure_password_hasher)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await receive_until_options(socket)
        await keys.rotate(settings)  # while the conversation is open
        await socket.send_json({"type": "choice", "value": "safe"})
        menu = await receive_until_options(socket)
        assert menu[-1]["text"] == "How can we help today?"
    async with client.ws_connect(WS) as socket:  # and a new conversation after it
        await socket.send_json({"type": "start"})
        assert (await receive_until_options(socket))[-1]["options"]
    assert app[SERVICES].conversations is not None


def test_the_commands_explain_what_to_do_next(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORCHLIGHT_DATA_DIR", str(settings.data_dir))
    assert main(["keys", "rotate"]) == 0
    assert "porchlight keys retire" in capsys.readouterr().out
    assert main(["keys", "retire"]) != 0
    assert "wait" in capsys.readouterr().err
    age_key_file(settings, keys.SETTLE_SECONDS + 1)
    assert main(["keys", "retire"]) == 0
    assert "retired master keys:" in capsys.readouterr().out
