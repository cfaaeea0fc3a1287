"""The safety lint: rules a script must pass before it can run, beyond being well-formed.

Each rule protects the person on a monitored phone: every question gives up gracefully,
the first exchange says how to leave, nothing alarming appears where someone else might
read it first, SMS replies arrive whole, every language is complete, and carrier opt-out
words keep their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.engine import Reply, ReplyOption
from bot.keywords import OPT_OUT_WORDS, normalise
from bot.script import Node, Script, ScriptError, Text, parse_script
from bot.sms import segments, sms_text

# Words that would tell someone reading over the person's shoulder what this service is.
DEFAULT_ALARM_WORDS = (
    "abuse", "abused", "abuser", "abusive", "violence", "violent", "shelter", "refuge",
    "domestic", "assault", "battered", "maltrato", "violencia", "refugio", "agresor",
)  # fmt: skip


RULES = (
    "timeout",
    "quick-exit",
    "alarm-word",
    "sms-segment",
    "language",
    "opt-out",
    "keyword",
    "numbers",
)


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One broken rule, where it is and what to do."""

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.rule}] {self.message}"


def lint_script(script: Script, alarm_words: Iterable[str] = ()) -> list[LintProblem]:
    """Every safety problem in the script, ordered by line."""
    words = {w.casefold() for w in (*DEFAULT_ALARM_WORDS, *script.alarm_words, *alarm_words)}
    problems = [
        *_timeouts(script),
        *_quick_exit_first(script),
        *_alarm_words(script, words),
        *_sms_segments(script),
        *_languages_complete(script),
        *_keywords(script),
        *_numbers_when_nobody_answers(script),
    ]
    return sorted(set(problems), key=lambda p: (p.line, p.rule, p.message))


def first_exchange(script: Script) -> list[Node]:
    """The nodes the person sees before they first answer."""
    return _run_until_wait(script, script.start)


def _run_until_wait(script: Script, node_id: str) -> list[Node]:
    nodes: list[Node] = []
    current: Node | None = script.node(node_id)
    while current is not None and current not in nodes:
        nodes.append(current)
        if current.wait is not None or current.end or current.next is None:
            break
        current = script.nodes.get(current.next)
    return nodes


# A number someone can call: 3 digits or more, with spaces, dots or dashes inside (911,
# 112, 555-0100, 0800 123 456).
_PHONE_NUMBER = re.compile(r"\d(?:[\s.\-]?\d){2,}")


def _numbers_when_nobody_answers(script: Script) -> Iterator[LintProblem]:
    """The emergency and after-hours answers must give a number to call, in every language.

    They are what a person in danger, or with nobody free to talk, is left with.
    """
    paths = [("emergency", script.emergency)]
    if script.after_hours is not None:
        paths.append(("after-hours", script.after_hours))
    for what, node_id in paths:
        nodes = _run_until_wait(script, node_id)
        for language in script.languages:
            said = " ".join(t.render(language, script.base_language) for n in nodes for t in n.say)
            if not _PHONE_NUMBER.search(said):
                yield LintProblem(
                    nodes[0].line,
                    "numbers",
                    f"the {what} answer ({node_id!r}) in {language!r} gives no number to call: "
                    "people with nobody to talk to need one",
                )


def _timeouts(script: Script) -> Iterator[LintProblem]:
    for node in script.nodes.values():
        if node.wait is not None and node.wait.timeout is None:
            yield LintProblem(
                node.line,
                "timeout",
                f"node {node.id!r} waits forever: give its 'wait' a timeout",
            )


def _quick_exit_first(script: Script) -> Iterator[LintProblem]:
    exit_words = script.keywords.get("quick_exit", {})
    if not any(exit_words.values()):
        yield LintProblem(
            1, "quick-exit", "define quick_exit keywords (e.g. EXIT) for every language"
        )
        return
    nodes = first_exchange(script)
    for language in script.languages:
        words = exit_words.get(language) or exit_words.get(script.base_language, ())
        said = " ".join(t.render(language, script.base_language) for n in nodes for t in n.say)
        if not any(_contains_word(said, word) for word in words):
            yield LintProblem(
                nodes[0].line,
                "quick-exit",
                f"the first exchange in {language!r} must say how to leave "
                f"(mention {' or '.join(words) or 'a quick_exit keyword'})",
            )


def _alarm_words(script: Script, words: set[str]) -> Iterator[LintProblem]:
    checked: list[tuple[str, Text]] = [
        (f"the first exchange ({node.id!r})", text)
        for node in first_exchange(script)
        for text in node.say
    ]
    for node in script.nodes.values():
        if node.wait is not None and node.wait.timeout is not None:
            for after in _run_until_wait(script, node.wait.timeout.next):
                checked += [
                    (f"a message sent after a timeout ({after.id!r})", t) for t in after.say
                ]
    checked.append(("the duress reply", script.messages["duress_reply"]))
    for where, text in checked:
        for language, body in text.by_language.items():
            for word in words:
                if _contains_word(body, word):
                    yield LintProblem(
                        text.line,
                        "alarm-word",
                        f"{where} says {word!r} in {language!r}: someone else may read it first",
                    )


def _sms_segments(script: Script) -> Iterator[LintProblem]:
    for node in script.nodes.values():
        if node.long_sms_reason:
            continue
        for index, text in enumerate(node.say):
            last = index == len(node.say) - 1
            options = node.wait.options if node.wait is not None and last else ()
            for language in script.languages:
                reply = Reply(
                    text.render(language, script.base_language),
                    tuple(
                        ReplyOption(o.label.render(language, script.base_language), o.value)
                        for o in options
                    ),
                )
                count = segments(sms_text(reply))
                if count > 1:
                    yield LintProblem(
                        text.line,
                        "sms-segment",
                        f"node {node.id!r} in {language!r} needs {count} SMS segments: shorten "
                        "it, or set 'long_sms_reason' on the node to say why it must be long",
                    )
    for name, text in script.messages.items():
        for language in script.languages:
            count = segments(text.render(language, script.base_language))
            if count > 1:
                yield LintProblem(
                    text.line,
                    "sms-segment",
                    f"message {name!r} in {language!r} needs {count} SMS segments: shorten it",
                )


def _languages_complete(script: Script) -> Iterator[LintProblem]:
    texts: list[tuple[str, Text]] = [(f"message {n!r}", t) for n, t in script.messages.items()]
    for node in script.nodes.values():
        texts += [(f"node {node.id!r}", t) for t in node.say]
        if node.wait is not None:
            texts += [(f"an option of {node.id!r}", o.label) for o in node.wait.options]
    for where, text in texts:
        missing = [lang for lang in script.languages if lang not in text.by_language]
        if missing:
            yield LintProblem(text.line, "language", f"{where} has no text in {', '.join(missing)}")


def _keywords(script: Script) -> Iterator[LintProblem]:
    owners: dict[str, str] = {}
    lists = [(kind, words) for kind, per in script.keywords.items() for words in per.values()] + [
        (f"language {lang}", words) for lang, words in script.language_keywords.items()
    ]
    for kind, words in lists:
        for word in words:
            folded = normalise(word)
            if folded in OPT_OUT_WORDS:
                yield LintProblem(
                    1,
                    "opt-out",
                    f"{word!r} is a carrier opt-out word: it always ends and wipes the "
                    f"conversation, so it cannot be a {kind} keyword",
                )
            elif owners.setdefault(folded, kind) != kind:
                yield LintProblem(
                    1, "keyword", f"{word!r} is both a {owners[folded]} and a {kind} keyword"
                )
    for node in script.nodes.values():
        for option in node.wait.options if node.wait is not None else ():
            for label in (*option.label.by_language.values(), option.value):
                if normalise(label) in OPT_OUT_WORDS or normalise(label) in owners:
                    yield LintProblem(
                        option.label.line,
                        "keyword",
                        f"option {label!r} of {node.id!r} is also a keyword: typing it would "
                        "not choose the option",
                    )


def _contains_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE) is not None


@dataclass(frozen=True, slots=True)
class Check:
    """What ``porchlight script validate`` finds in a script's text, for editors."""

    script: Script | None  # None when the text is not a script at all
    problems: list[LintProblem]

    @property
    def publishable(self) -> bool:
        """No structural problem and no broken safety rule."""
        return self.script is not None and not self.problems


def check_source(text: str, alarm_words: Iterable[str] = (), source: str = "<draft>") -> Check:
    """Parse and lint a script's text: every problem, with its line.

    A text that does not parse gets its problems under the ``structure`` rule; the safety
    rules run only on one that does.
    """
    try:
        script = parse_script(text, source=source)
    except ScriptError as exc:
        located = [LintProblem(line, "structure", problem) for line, problem in exc.located]
        return Check(None, located)
    return Check(script, lint_script(script, alarm_words))
