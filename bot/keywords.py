"""Global safety keywords, checked before any script node sees a message.

They are deliberately whole-message matches: "EXIT" leaves, but "how do I exit the lease"
does not, because a false quick exit wipes a conversation the person wanted to keep.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    """What a whole-message keyword asks for."""

    QUICK_EXIT = "quick_exit"
    OPT_OUT = "opt_out"
    EMERGENCY = "emergency"


QUICK_EXIT_WORDS = frozenset({"EXIT"})
# Carrier opt-out words: carriers act on them whatever we do, so we must too, silently.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
EMERGENCY_WORDS = frozenset({"911", "999", "112", "EMERGENCY", "SOS"})

_TRIM = " \t\r\n.!?,;:'\"()[]"


def normalise(text: str) -> str:
    """Fold case, width and surrounding punctuation so 'Exit!' and full-width 'EXIT' both match."""
    folded = unicodedata.normalize("NFKC", text).strip(_TRIM)
    return folded.upper()


def match_keyword(text: str) -> Keyword | None:
    """The safety keyword this whole message is, if any; quick exit and opt-out win."""
    word = normalise(text)
    if word in QUICK_EXIT_WORDS:
        return Keyword.QUICK_EXIT
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in EMERGENCY_WORDS:
        return Keyword.EMERGENCY
    return None
