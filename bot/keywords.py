"""Global keywords, checked before any script node sees a message.

They are whole-message matches: "EXIT" leaves, but "how do I exit the lease" does not,
because a false quick exit wipes a conversation the person wanted to keep. Every language's
keywords work whatever language the conversation is in: people mix languages, and a
safety word must never fail because of a setting.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.script import Script


class Keyword(StrEnum):
    """What a whole-message keyword asks for."""

    QUICK_EXIT = "quick_exit"
    OPT_OUT = "opt_out"
    DELETE = "delete"
    DURESS = "duress"
    EMERGENCY = "emergency"
    HELP = "help"
    LANGUAGE = "language"


# Carrier opt-out words: carriers act on them whatever we do, so we must too, silently. They
# are not configurable, and no script may use them for anything else.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
# Checked first to last: leaving and wiping win over everything else.
PRECEDENCE = ("quick_exit", "delete", "duress", "emergency", "help")

_TRIM = " \t\r\n.!?¡¿,;:'\"()[]"


def normalise(text: str) -> str:
    """Fold case, width and surrounding punctuation so 'Exit!' and full-width 'EXIT' match."""
    return unicodedata.normalize("NFKC", text).strip(_TRIM).upper()


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A recognised keyword; ``language`` is set for a language switch."""

    keyword: Keyword
    language: str | None = None


def match_keyword(script: Script, text: str) -> KeywordMatch | None:
    """The keyword this whole message is, if any."""
    word = normalise(text)
    if not word:
        return None
    if word in OPT_OUT_WORDS:
        return KeywordMatch(Keyword.OPT_OUT)
    return script.whole_words.get(word)


def keyword_table(
    keywords: Mapping[str, Mapping[str, tuple[str, ...]]],
    language_keywords: Mapping[str, tuple[str, ...]],
) -> dict[str, KeywordMatch]:
    """Every keyword of a script, normalised, with what it asks for (see ``Script``).

    A word listed twice means what comes first in ``PRECEDENCE``, then a language switch.
    """
    table: dict[str, KeywordMatch] = {}
    for kind in PRECEDENCE:
        for words in keywords.get(kind, {}).values():
            for word in words:
                table.setdefault(normalise(word), KeywordMatch(Keyword(kind)))
    for language, words in language_keywords.items():
        for word in words:
            table.setdefault(normalise(word), KeywordMatch(Keyword.LANGUAGE, language))
    table.pop("", None)  # an empty message is no keyword
    return table
