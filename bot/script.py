"""Scripts are data: YAML documents saying what the service says and where answers lead.

A node runs its parts in a fixed order, which keeps scripts readable for the people who edit
them: ``say`` messages, ``set`` results, ``handoff`` (ask for a human), then exactly one way
on: ``wait`` for the person (options, routing cases, a default and a timeout), ``next``
(move on at once) or ``end``. Every text can be translated; see docs/scripts.md.

Loading checks structure and the graph and reports every problem with its line, because the
people editing scripts are not developers. The safety lint is separate (:mod:`bot.lint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.cases import CASE_TESTS, Case, build_case
from bot.keywords import KeywordMatch, keyword_table
from bot.yamlsource import YamlProblem, line_of, line_of_key, load_yaml, without_line

SCHEMA_VERSION = 1
MAX_NODES = 500
DEFAULT_SESSION_MINUTES = 60
KEYWORD_KINDS = ("quick_exit", "emergency", "help", "delete", "duress")
REQUIRED_MESSAGES = ("not_understood", "help", "language_changed", "duress_reply")
# Needed only by scripts whose nodes use resources or reports (checked when they do).
OPTIONAL_MESSAGES = (
    "no_resources", "report_receipt", "report_added", "report_not_found", "queue_position",
    "advocate_joined", "advocate_left",
)  # fmt: skip
CHANNELS = ("webchat", "sms", "whatsapp", "telegram")
RESOURCE_CATEGORIES = ("hotline", "shelter", "legal", "counselling")
HANDOFF_PRIORITIES = ("normal", "high")
# What the person is told while with a human: their place in line ({position}, {minutes}),
# that an advocate joined, and that the advocate left.
HANDOFF_MESSAGES = ("queue_position", "advocate_joined", "advocate_left")


class ScriptError(ValueError):
    """A script document is malformed; ``problems`` lists each issue with its line."""

    def __init__(
        self, source: str, problems: list[str], located: list[tuple[int, str]] | None = None
    ) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems
        # (line, problem) pairs, line 0 when unknown: for editors that point at the line.
        self.located = located if located is not None else [(0, p) for p in problems]


@dataclass(frozen=True, slots=True)
class Text:
    """A translatable text: one string per language code."""

    by_language: Mapping[str, str]
    line: int = 0

    def render(self, language: str, base: str) -> str:
        """The text in ``language``, falling back to the base language."""
        return self.by_language.get(language) or self.by_language[base]


@dataclass(frozen=True, slots=True)
class Option:
    """A choice offered with the question: a button on the web, a number on SMS."""

    label: Text
    value: str
    next: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """Where the flow goes if the person does not answer in time."""

    minutes: int
    next: str


@dataclass(frozen=True, slots=True)
class Wait:
    """A question: how answers are routed, and what happens when none comes."""

    options: tuple[Option, ...] = ()
    cases: tuple[Case, ...] = ()
    save_as: str | None = None
    secret: bool = False  # the answer (a receipt code) is never written to the transcript
    default: str | None = None
    timeout: Timeout | None = None


@dataclass(frozen=True, slots=True)
class ShowResources:
    """List directory entries for the area the person gave."""

    categories: tuple[str, ...]
    area: str  # the result holding the person's area


@dataclass(frozen=True, slots=True)
class SubmitReport:
    """Store the named results as an anonymous report and show its receipt code."""

    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddToReport:
    """Append a result to the report whose receipt code is in another result."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a script."""

    id: str
    line: int
    say: tuple[Text, ...] = ()
    set: Mapping[str, str] = field(default_factory=dict)
    handoff: str | None = None
    wait: Wait | None = None
    next: str | None = None
    end: bool = False
    long_sms_reason: str | None = None
    resources: ShowResources | None = None
    report: SubmitReport | AddToReport | None = None
    only_on: tuple[str, ...] = ()  # channels this node is for; others go to ``otherwise``
    otherwise: str | None = None

    def targets(self) -> list[str]:
        """Every node this one can lead to."""
        found = [self.next] if self.next else []
        found += [self.otherwise] if self.otherwise else []
        if self.wait is not None:
            found += [o.next for o in self.wait.options] + [c.next for c in self.wait.cases]
            found += [self.wait.default] if self.wait.default else []
            found += [self.wait.timeout.next] if self.wait.timeout else []
        return found


@dataclass(frozen=True, slots=True)
class Script:
    """A structurally valid script, ready for the engine and the lint."""

    name: str
    languages: tuple[str, ...]
    language_names: Mapping[str, str]
    language_keywords: Mapping[str, tuple[str, ...]]
    start: str
    emergency: str
    session_minutes: int
    messages: Mapping[str, Text]
    keywords: Mapping[str, Mapping[str, tuple[str, ...]]]
    nodes: Mapping[str, Node]
    alarm_words: tuple[str, ...] = ()
    # Where the flow goes on when nobody can take a handoff (no one on call, or nobody
    # claimed it in time). Required as soon as any node hands off.
    after_hours: str | None = None
    # Every keyword normalised, with what it means: built once, looked up for each message.
    whole_words: Mapping[str, KeywordMatch] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "whole_words", keyword_table(self.keywords, self.language_keywords)
        )

    @property
    def base_language(self) -> str:
        """The first language: complete by definition, the fallback for the others."""
        return self.languages[0]

    def node(self, node_id: str) -> Node:
        """The node with this id (checked to exist at load time)."""
        return self.nodes[node_id]

    def message(self, name: str, language: str) -> str:
        """A system message in the person's language."""
        return self.messages[name].render(language, self.base_language)


def parse_script(text: str, source: str = "<script>") -> Script:
    """Parse and check a script document, raising ScriptError with every problem found."""
    try:
        document = load_yaml(text)
    except YamlProblem as exc:
        where = f"line {exc.line}: " if exc.line else ""
        message = f"not valid YAML ({exc.problem})"
        raise ScriptError(source, [f"{where}{message}"], [(exc.line or 0, message)]) from None
    problems = _Problems()
    script = _Builder(problems).build(document)
    if problems or script is None:
        raise ScriptError(source, problems.sorted(), problems.located())
    return script


def load_script_file(path: Path) -> Script:
    """Load a script from a file; the file name is used in error messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(str(path), [f"cannot read the file ({exc})"]) from None
    return parse_script(text, source=str(path))


def builtin_script_names() -> list[str]:
    """Names of the scripts shipped in ``bot/scripts``."""
    folder = resources.files("bot") / "scripts"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_builtin_script(name: str) -> Script:
    """Load one of the scripts shipped in ``bot/scripts``."""
    return parse_script(builtin_script_source(name), source=f"{name}.yaml")


def builtin_script_source(name: str) -> str:
    """The text of one of the scripts shipped in ``bot/scripts``."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ScriptError(name, ["script names are letters, digits, '-' and '_'"])
    resource = resources.files("bot") / "scripts" / f"{name}.yaml"
    if not resource.is_file():
        raise ScriptError(name, [f"no shipped script named {name!r}"])
    return resource.read_text(encoding="utf-8")


class _Problems:
    def __init__(self) -> None:
        self._items: list[tuple[int, str]] = []

    def add(self, line: int, problem: str) -> None:
        self._items.append((line, problem))

    def __bool__(self) -> bool:
        return bool(self._items)

    def sorted(self) -> list[str]:
        return [f"line {line}: {problem}" for line, problem in self.located()]

    def located(self) -> list[tuple[int, str]]:
        return sorted(set(self._items))


class _Builder:
    """Turns the YAML tree into a Script, collecting problems instead of stopping at one."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.languages: tuple[str, ...] = ("en",)
        self.required_messages: set[tuple[int, str]] = set()

    def build(self, document: Any) -> Script | None:
        if not isinstance(document, dict):
            self.problems.add(1, "a script is a mapping with 'schema', 'name' and 'nodes'")
            return None
        at = line_of(document, 1)
        allowed = {
            "schema", "name", "languages", "start", "emergency", "after_hours",
            "session_minutes", "messages", "keywords", "nodes", "alarm_words",
        }  # fmt: skip
        for key in without_line(document).keys() - allowed:
            self.problems.add(at, f"unknown top-level key {key!r}")
        if document.get("schema") != SCHEMA_VERSION:
            self.problems.add(at, f"'schema' must be {SCHEMA_VERSION}")
        name = document.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(at, "'name' must be a non-empty string")

        names, switch = self._languages(document.get("languages"), at)
        messages = self._messages(document.get("messages"), at)
        keywords = self._keywords(document.get("keywords"), at)
        session = document.get("session_minutes", DEFAULT_SESSION_MINUTES)
        if not isinstance(session, int) or isinstance(session, bool) or not 5 <= session <= 1440:
            self.problems.add(at, "'session_minutes' must be a whole number from 5 to 1440")
            session = DEFAULT_SESSION_MINUTES
        alarm = document.get("alarm_words", [])
        if not isinstance(alarm, list) or not all(isinstance(w, str) for w in alarm):
            self.problems.add(at, "'alarm_words' must be a list of words")
            alarm = []

        raw_nodes = document.get("nodes")
        if not isinstance(raw_nodes, dict) or not without_line(raw_nodes):
            self.problems.add(at, "'nodes' must be a mapping of node ids to nodes")
            return None
        if len(without_line(raw_nodes)) > MAX_NODES:
            self.problems.add(line_of(raw_nodes), f"more than {MAX_NODES} nodes")
        nodes: dict[str, Node] = {}
        for node_id, raw in without_line(raw_nodes).items():
            node = self._node(node_id, raw, line_of_key(raw_nodes, node_id, line_of(raw_nodes)))
            if node is not None:
                nodes[node_id] = node

        start, emergency = document.get("start"), document.get("emergency")
        for key, value in (("start", start), ("emergency", emergency)):
            if not isinstance(value, str) or value not in nodes:
                self.problems.add(at, f"'{key}' must name a node, got {value!r}")
        after_hours = self._after_hours(document.get("after_hours"), nodes, at)
        roots = [r for r in (start, emergency, after_hours) if isinstance(r, str)]
        self._check_graph(nodes, roots)
        for line, message in self.required_messages:
            if message not in messages:
                self.problems.add(line, f"this node needs the message {message!r} in 'messages'")
        queue = messages.get("queue_position")
        if queue is not None and not all(
            "{position}" in t and "{minutes}" in t for t in queue.by_language.values()
        ):
            self.problems.add(
                queue.line, "message 'queue_position' must contain {position} and {minutes}"
            )
        receipt = messages.get("report_receipt")
        if receipt is not None and not all("{code}" in t for t in receipt.by_language.values()):
            self.problems.add(receipt.line, "message 'report_receipt' must contain {code}")
        if self.problems:
            return None
        return Script(
            name=str(name),
            languages=self.languages,
            language_names=names,
            language_keywords=switch,
            start=str(start),
            emergency=str(emergency),
            session_minutes=session,
            messages=messages,
            keywords=keywords,
            nodes=nodes,
            alarm_words=tuple(alarm),
            after_hours=after_hours,
        )

    # -- sections ---------------------------------------------------------------------

    def _languages(self, raw: Any, at: int) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        if raw is None:
            return {"en": "English"}, {"en": ()}
        if not isinstance(raw, dict) or not without_line(raw):
            self.problems.add(at, "'languages' maps language codes to {name, keywords}")
            return {"en": "English"}, {"en": ()}
        names: dict[str, str] = {}
        switch: dict[str, tuple[str, ...]] = {}
        for code, spec in without_line(raw).items():
            line = line_of(spec, line_of(raw))
            if not (code.isalpha() and 2 <= len(code) <= 3 and code.islower()):
                self.problems.add(line, f"language code {code!r} must be like 'en' or 'es'")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                self.problems.add(line, f"language {code!r} needs a 'name'")
                continue
            names[code] = spec["name"]
            switch[code] = self._word_list(spec.get("keywords", []), line, f"{code} keywords")
        self.languages = tuple(names) or ("en",)
        return names, switch

    def _messages(self, raw: Any, at: int) -> dict[str, Text]:
        messages: dict[str, Text] = {}
        if not isinstance(raw, dict):
            self.problems.add(at, f"'messages' must define {', '.join(REQUIRED_MESSAGES)}")
            return messages
        for name in REQUIRED_MESSAGES:
            if name not in raw:
                self.problems.add(line_of(raw), f"message {name!r} is missing")
        for name, value in without_line(raw).items():
            if name not in REQUIRED_MESSAGES + OPTIONAL_MESSAGES:
                self.problems.add(line_of(raw), f"unknown message {name!r}")
                continue
            text = self._text(value, line_of(raw), f"message {name!r}")
            if text is not None:
                messages[name] = text
        return messages

    def _keywords(self, raw: Any, at: int) -> dict[str, dict[str, tuple[str, ...]]]:
        keywords: dict[str, dict[str, tuple[str, ...]]] = {kind: {} for kind in KEYWORD_KINDS}
        if raw is None:
            return keywords
        if not isinstance(raw, dict):
            self.problems.add(at, "'keywords' maps a kind to words per language")
            return keywords
        for kind, per_language in without_line(raw).items():
            line = line_of(per_language, line_of(raw))
            if kind not in KEYWORD_KINDS:
                self.problems.add(line, f"unknown keyword kind {kind!r}: use {KEYWORD_KINDS}")
                continue
            if not isinstance(per_language, dict):
                self.problems.add(line, f"keywords {kind!r} must map languages to word lists")
                continue
            for language, words in without_line(per_language).items():
                keywords[kind][language] = self._word_list(words, line, f"{kind} keywords")
        return keywords

    # -- nodes --------------------------------------------------------------------------

    def _node(self, node_id: str, raw: Any, line: int) -> Node | None:
        if not isinstance(raw, dict):
            self.problems.add(line, f"node {node_id!r} must be a mapping")
            return None
        allowed = {
            "say", "set", "handoff", "wait", "next", "end", "long_sms_reason",
            "resources", "report", "only_on", "otherwise",
        }  # fmt: skip
        for key in without_line(raw).keys() - allowed:
            self.problems.add(line, f"node {node_id!r} has unknown key {key!r}")

        raw_say = raw.get("say", [])
        say_items = raw_say if isinstance(raw_say, list) else [raw_say]
        say = tuple(
            text
            for item in say_items
            if (text := self._text(item, line, f"'say' of {node_id!r}")) is not None
        )
        values = raw.get("set", {})
        if not isinstance(values, dict) or not all(
            isinstance(v, str | int) for v in without_line(values).values()
        ):
            self.problems.add(line, f"'set' of {node_id!r} maps result names to values")
            values = {}
        handoff = raw.get("handoff")
        if handoff is not None and handoff not in HANDOFF_PRIORITIES:
            self.problems.add(line, f"'handoff' of {node_id!r} must be one of {HANDOFF_PRIORITIES}")
        wait = self._wait(node_id, raw["wait"], line) if "wait" in raw else None
        next_node = raw.get("next")
        end = raw.get("end", False) is True
        ways_on = sum(("wait" in raw, next_node is not None, end))
        if handoff is not None:
            self.required_messages.update((line, m) for m in HANDOFF_MESSAGES)
            if ways_on:
                self.problems.add(
                    line,
                    f"node {node_id!r} hands off to a person, so it has no 'wait', 'next' or "
                    "'end': the advocate takes over, or the flow goes on from 'after_hours'",
                )
        elif ways_on != 1:
            self.problems.add(line, f"node {node_id!r} needs exactly one of 'wait', 'next', 'end'")
        if wait is not None and not say:
            self.problems.add(line, f"node {node_id!r} waits without asking anything ('say')")
        reason = raw.get("long_sms_reason")
        resources_action = self._resources(node_id, raw.get("resources"), line)
        report_action = self._report(node_id, raw.get("report"), line)
        if (resources_action or report_action) and "wait" in raw:
            self.problems.add(
                line, f"node {node_id!r} lists or reports, so it moves on with 'next'"
            )
        only_on = raw.get("only_on", [])
        if not isinstance(only_on, list) or not set(only_on) <= set(CHANNELS):
            self.problems.add(line, f"'only_on' of {node_id!r} lists channels from {CHANNELS}")
            only_on = []
        otherwise = raw.get("otherwise")
        if bool(only_on) != isinstance(otherwise, str):
            self.problems.add(line, f"node {node_id!r}: 'only_on' and 'otherwise' go together")
        return Node(
            id=node_id,
            line=line,
            say=say,
            set={str(k): str(v) for k, v in without_line(values).items()},
            handoff=handoff,
            wait=wait,
            next=next_node if isinstance(next_node, str) else None,
            end=end,
            long_sms_reason=reason if isinstance(reason, str) else None,
            resources=resources_action,
            report=report_action,
            only_on=tuple(only_on),
            otherwise=otherwise if isinstance(otherwise, str) else None,
        )

    def _resources(self, node_id: str, raw: Any, line: int) -> ShowResources | None:
        if raw is None:
            return None
        categories = raw.get("categories") if isinstance(raw, dict) else None
        area = raw.get("area") if isinstance(raw, dict) else None
        if (
            not isinstance(categories, list)
            or not categories
            or not set(categories) <= set(RESOURCE_CATEGORIES)
            or not isinstance(area, str)
        ):
            self.problems.add(
                line,
                f"'resources' of {node_id!r} needs 'categories' (from {RESOURCE_CATEGORIES}) "
                "and 'area' (the result holding the person's area)",
            )
            return None
        self.required_messages.add((line, "no_resources"))
        return ShowResources(tuple(categories), area)

    def _report(self, node_id: str, raw: Any, line: int) -> SubmitReport | AddToReport | None:
        if raw is None:
            return None
        if isinstance(raw, dict) and isinstance(raw.get("submit"), list) and raw["submit"]:
            self.required_messages.add((line, "report_receipt"))
            return SubmitReport(tuple(str(f) for f in raw["submit"]))
        if isinstance(raw, dict) and isinstance(raw.get("add"), dict):
            code, text = raw["add"].get("code"), raw["add"].get("text")
            if isinstance(code, str) and isinstance(text, str):
                self.required_messages.update({(line, "report_added"), (line, "report_not_found")})
                return AddToReport(code, text)
        self.problems.add(
            line,
            f"'report' of {node_id!r} is either {{submit: [result names]}} "
            "or {add: {code: result, text: result}}",
        )
        return None

    def _wait(self, node_id: str, raw: Any, node_line: int) -> Wait | None:
        if not isinstance(raw, dict):
            self.problems.add(node_line, f"'wait' of {node_id!r} must be a mapping")
            return None
        line = line_of(raw, node_line)
        allowed = {"options", "cases", "save_as", "secret", "default", "timeout"}
        for key in without_line(raw).keys() - allowed:
            self.problems.add(line, f"'wait' of {node_id!r} has unknown key {key!r}")
        options = []
        for raw_option in raw.get("options") or []:
            o_line = line_of(raw_option, line)
            if not isinstance(raw_option, dict) or not all(
                k in raw_option for k in ("label", "value", "next")
            ):
                self.problems.add(o_line, f"each option of {node_id!r} needs label, value, next")
                continue
            label = self._text(raw_option["label"], o_line, f"an option label of {node_id!r}")
            if label is not None:
                options.append(Option(label, str(raw_option["value"]), str(raw_option["next"])))
        if len({o.value for o in options}) != len(options):
            self.problems.add(line, f"node {node_id!r} repeats an option value")
        cases = []
        for raw_case in raw.get("cases") or []:
            c_line = line_of(raw_case, line)
            try:
                cases.append(build_case(raw_case, self.languages))
            except ValueError as exc:
                self.problems.add(c_line, f"a case of {node_id!r}: {exc}")
        secret = raw.get("secret", False) is True
        save_as = raw.get("save_as")
        if save_as is not None and (not isinstance(save_as, str) or not save_as.isidentifier()):
            self.problems.add(line, f"'save_as' of {node_id!r} must be a simple name")
        default = raw.get("default")
        if not options and not cases and default is None:
            self.problems.add(line, f"'wait' of {node_id!r} needs options, cases or a default")
        timeout = raw.get("timeout")
        parsed_timeout = None
        if timeout is not None:
            minutes = timeout.get("minutes") if isinstance(timeout, dict) else None
            target = timeout.get("next") if isinstance(timeout, dict) else None
            if (
                not isinstance(minutes, int)
                or isinstance(minutes, bool)
                or not 1 <= minutes <= 1440
            ):
                self.problems.add(line, f"timeout of {node_id!r} needs 'minutes' from 1 to 1440")
            elif not isinstance(target, str):
                self.problems.add(line, f"timeout of {node_id!r} needs 'next'")
            else:
                parsed_timeout = Timeout(minutes, target)
        return Wait(
            options=tuple(options),
            cases=tuple(cases),
            save_as=save_as if isinstance(save_as, str) else None,
            secret=secret,
            default=default if isinstance(default, str) else None,
            timeout=parsed_timeout,
        )

    # -- values -------------------------------------------------------------------------

    def _text(self, raw: Any, line: int, what: str) -> Text | None:
        """A plain string is the base language; a mapping gives one text per language."""
        if isinstance(raw, str) and raw.strip():
            return Text({self.languages[0]: raw}, line)
        if isinstance(raw, dict):
            texts = without_line(raw)
            here = line_of(raw, line)
            unknown = texts.keys() - set(self.languages)
            if unknown:
                self.problems.add(
                    here, f"{what} has texts in undeclared languages {sorted(unknown)}"
                )
            if not all(isinstance(t, str) and t.strip() for t in texts.values()):
                self.problems.add(here, f"{what} has an empty text")
            elif self.languages[0] not in texts:
                self.problems.add(here, f"{what} has no {self.languages[0]!r} text")
            else:
                return Text(texts, here)
            return None
        self.problems.add(line, f"{what} must be a text or a mapping of language to text")
        return None

    def _word_list(self, raw: Any, line: int, what: str) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(w, str | int) for w in raw):
            self.problems.add(line, f"{what} must be a list of words")
            return ()
        return tuple(str(w) for w in raw)

    def _after_hours(self, raw: Any, nodes: Mapping[str, Node], at: int) -> str | None:
        hands_off = any(node.handoff is not None for node in nodes.values())
        if raw is None:
            if hands_off:
                self.problems.add(
                    at, "'after_hours' must name the node for when nobody can take a handoff"
                )
            return None
        if not isinstance(raw, str) or raw not in nodes:
            self.problems.add(at, f"'after_hours' must name a node, got {raw!r}")
            return None
        if nodes[raw].handoff is not None:
            self.problems.add(at, f"'after_hours' node {raw!r} must not hand off again")
        return raw

    def _check_graph(self, nodes: Mapping[str, Node], roots: list[str]) -> None:
        for node in nodes.values():
            for target in node.targets():
                if target not in nodes:
                    self.problems.add(
                        node.line, f"node {node.id!r} leads to missing node {target!r}"
                    )
        reachable = reachable_nodes(nodes, roots)
        for node_id in nodes.keys() - reachable:
            self.problems.add(nodes[node_id].line, f"node {node_id!r} is unreachable")
        # A chain of nodes that never wait would loop forever within one turn.
        for node in nodes.values():
            path: list[str] = []
            current: Node | None = node
            while current is not None and current.next:
                if current.id in path:
                    self.problems.add(
                        node.line, f"nodes {' -> '.join(path)} loop without waiting for the person"
                    )
                    break
                path.append(current.id)
                current = nodes.get(current.next)


def reachable_nodes(nodes: Mapping[str, Node], roots: list[str]) -> set[str]:
    """Node ids reachable from the roots by any route."""
    seen: set[str] = set()
    todo = [root for root in roots if root in nodes]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in nodes:
            continue
        seen.add(node_id)
        todo.extend(nodes[node_id].targets())
    return seen


__all__ = [
    "CASE_TESTS",
    "AddToReport",
    "Case",
    "Node",
    "Option",
    "Script",
    "ScriptError",
    "ShowResources",
    "SubmitReport",
    "Text",
    "Timeout",
    "Wait",
    "builtin_script_names",
    "load_builtin_script",
    "load_script_file",
    "parse_script",
]
