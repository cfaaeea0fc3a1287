"""Routing tests for free-text answers: the "cases" of a wait.

Each case has a test, where it leads (``next``) and the category recorded for statistics
(defaults to ``next``). Words and phrases may be given per language; a person's answer is
matched against every language, since people mix them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.yamlsource import without_line

CASE_TESTS = ("any_word", "phrase", "number", "number_between", "regex")
MAX_MATCHED_LENGTH = 1000  # longer answers are matched on their start only
_NUMBER = re.compile(r"[-+]?\d{1,12}(?:[.,]\d{1,6})?")
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Case-, width- and space-insensitive form for matching."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class Case:
    """One routing test of a wait."""

    test: str
    next: str
    category: str
    words: frozenset[str] = frozenset()
    phrases: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, answer: str) -> bool:
        """Whether the person's answer passes this test."""
        text = fold(answer[:MAX_MATCHED_LENGTH])
        if self.test == "any_word":
            return any(word in self.words for word in _WORD.findall(text))
        if self.test == "phrase":
            words = " " + " ".join(_WORD.findall(text)) + " "
            return any(f" {phrase} " in words for phrase in self.phrases)
        if self.test in ("number", "number_between"):
            number = parse_number(text)
            if number is None:
                return False
            if self.test == "number":
                return True
            low = self.low if self.low is not None else float("-inf")
            high = self.high if self.high is not None else float("inf")
            return low <= number <= high
        assert self.pattern is not None  # noqa: S101 -- regex cases always compile one
        return self.pattern.search(answer[:MAX_MATCHED_LENGTH]) is not None


def parse_number(text: str) -> float | None:
    """A number typed on its own ("3", "2.5", "2,5"), else None."""
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        return None
    return float(stripped.replace(",", "."))


def build_case(raw: Any, languages: Sequence[str]) -> Case:
    """Build a Case from YAML, raising ValueError with a plain-language problem."""
    if not isinstance(raw, dict):
        raise ValueError("a case is a mapping with 'test' and 'next'")
    test, target = raw.get("test"), raw.get("next")
    if test not in CASE_TESTS:
        raise ValueError(f"'test' must be one of {', '.join(CASE_TESTS)}")
    if not isinstance(target, str):
        raise ValueError("'next' must name a node")
    category = str(raw.get("category", target))
    if test == "any_word":
        words = _per_language(raw.get("words"), languages, "words")
        folded = frozenset(fold(w) for group in words for w in group)
        if not folded:
            raise ValueError("'words' must list at least one word")
        return Case(test, target, category, words=folded)
    if test == "phrase":
        phrases = _per_language(raw.get("phrase"), languages, "phrase")
        folded_phrases = tuple(" ".join(_WORD.findall(fold(p))) for g in phrases for p in g)
        if not all(folded_phrases):
            raise ValueError("a phrase needs at least one word")
        return Case(test, target, category, phrases=folded_phrases)
    if test == "number":
        return Case(test, target, category)
    if test == "number_between":
        low, high = _number(raw.get("min")), _number(raw.get("max"))
        if low is None or high is None:
            raise ValueError("'number_between' needs numbers 'min' and 'max'")
        if low > high:
            raise ValueError("'min' must not be larger than 'max'")
        return Case(test, target, category, low=low, high=high)
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("'regex' needs a 'pattern'")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"'pattern' is not a valid regular expression ({exc})") from None
    return Case(test, target, category, pattern=compiled)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _per_language(raw: Any, languages: Sequence[str], what: str) -> list[list[str]]:
    """Words or phrases as a list (base language) or a mapping of language to a list."""
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list):
        raw = {languages[0]: raw}
    if not isinstance(raw, Mapping):
        raise ValueError(f"'{what}' must be a list or a mapping of language to list")
    groups = []
    for language, items in without_line(dict(raw)).items():
        if language not in languages:
            raise ValueError(f"'{what}' uses undeclared language {language!r}")
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"'{what}' for {language!r} must be a list of texts")
        groups.append(items)
    return groups
