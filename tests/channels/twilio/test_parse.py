from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from bot.engine import InboundKind
from channels.base import InvalidInbound
from channels.twilio.parse import parse_webhook

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "twilio"


def form(name: str) -> dict[str, str]:
    return dict(parse_qsl((PAYLOADS / f"{name}.form").read_text(), keep_blank_values=True))


def test_an_sms_is_a_text_from_the_sms_channel() -> None:
    message = parse_webhook(form("sms_inbound"))
    assert message is not None
    assert (message.channel, message.address, message.kind, message.text) == (
        "sms",
        "+15550104417",
        InboundKind.TEXT,
        "Hi there",
    )
    assert message.external_id == "SM8f3b0c2e4d5a6b7c8d9e0f1a2b3c4d5e"


def test_whatsapp_senders_are_the_whatsapp_channel() -> None:
    message = parse_webhook(form("whatsapp_inbound"))
    assert message is not None
    assert (message.channel, message.address, message.text) == (
        "whatsapp",
        "whatsapp:+15550104418",
        "Hola",
    )


def test_a_whatsapp_button_is_a_choice_of_its_payload() -> None:
    message = parse_webhook(form("whatsapp_button"))
    assert message is not None
    assert (message.kind, message.text) == (InboundKind.CHOICE, "safe")


def test_status_callbacks_are_not_messages() -> None:
    assert parse_webhook(form("status_callback")) is None


def test_an_overlong_body_is_refused() -> None:
    with pytest.raises(InvalidInbound, match="longer than 1600"):
        parse_webhook({**form("sms_inbound"), "Body": "x" * 1601})
