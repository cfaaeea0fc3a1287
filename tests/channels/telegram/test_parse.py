import json
from pathlib import Path

import pytest

from bot.engine import InboundKind
from channels.base import InvalidInbound
from channels.telegram.parse import callback_query_id, parse_update

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "telegram"


def update(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def test_start_opens_the_conversation() -> None:
    message = parse_update(update("start"))
    assert message is not None
    assert (message.channel, message.address, message.kind) == (
        "telegram",
        "5550104419",
        InboundKind.START,
    )
    assert message.external_id == "900000001"


def test_text_is_text() -> None:
    message = parse_update(update("text"))
    assert message is not None
    assert (message.kind, message.text) == (InboundKind.TEXT, "hello")


def test_a_pressed_button_is_a_choice_of_its_data() -> None:
    payload = update("callback_query")
    message = parse_update(payload)
    assert message is not None
    assert (message.kind, message.text, message.address) == (
        InboundKind.CHOICE,
        "safe",
        "5550104419",
    )
    assert callback_query_id(payload) == "4382bfdwdsb323b2d9"


@pytest.mark.parametrize("name", ["group_message", "edited_message"])
def test_groups_and_edits_are_not_conversations(name: str) -> None:
    assert parse_update(update(name)) is None


@pytest.mark.parametrize("payload", [[], {"no": "update_id"}, {"update_id": "7"}])
def test_things_that_are_not_updates_are_refused(payload: object) -> None:
    with pytest.raises(InvalidInbound):
        parse_update(payload)
