"""Turning slots into messages, once the service (or the simulator) has done the I/O.

Kept pure and shared so that the simulator shows authors exactly what people will see.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.directory import Resource
from bot.engine import Reply
from bot.script import Script

RECEIPT_PLACEHOLDER = "[receipt code]"


def resource_replies(script: Script, entries: Sequence[Resource], language: str) -> list[Reply]:
    """One message per place (each fits an SMS), or the script's "nothing found" message."""
    if not entries:
        return [Reply(script.message("no_resources", language))]
    return [Reply(entry.line()) for entry in entries]


def receipt_reply(script: Script, code: str, language: str) -> Reply:
    """The receipt message with the code shown once, and never written to the transcript."""
    template = script.message("report_receipt", language)
    grouped = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    return Reply(
        template.replace("{code}", grouped),
        record_as=template.replace("{code}", RECEIPT_PLACEHOLDER),
    )


def addition_reply(script: Script, added: bool, language: str) -> Reply:
    """Whether the addition reached a report; unknown and expired codes read the same."""
    return Reply(script.message("report_added" if added else "report_not_found", language))
