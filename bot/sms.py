"""How a reply looks on SMS, and how many segments it costs.

SMS has no buttons, so options become numbered lines. A message that fits the GSM-7
alphabet carries 160 characters in one segment; one character outside it (an "ó", an
emoji) switches the whole message to UCS-2 and 70 characters. Multi-part messages can
arrive split or out of order on a person's phone, so the script lint keeps replies to one
segment unless the author says why not.
"""

from __future__ import annotations

from bot.engine import Reply

# GSM 03.38 basic alphabet, and the extension table (each costs two characters).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def sms_text(reply: Reply) -> str:
    """The reply as an SMS body: options as numbered lines."""
    lines = [reply.text] + [f"{i}. {o.label}" for i, o in enumerate(reply.options, start=1)]
    return "\n".join(lines)


def is_gsm7(text: str) -> bool:
    """Whether the text can be sent in the 7-bit alphabet."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS segments the text needs."""
    if is_gsm7(text):
        length = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        length = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units
        single, part = UCS2_SINGLE, UCS2_PART
    if length <= single:
        return 1
    return -(-length // part)
