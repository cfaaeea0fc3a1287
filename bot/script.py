"""Scripts are data: YAML documents describing nodes, what each says and where answers lead.

This is the first cut of the model (schema 1): a node says one or more messages, then either
offers options, waits for a free-text answer, moves on to ``next``, or ends. Problems are
reported with the line they come from, because the people editing scripts are not
developers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SCHEMA_VERSION = 1
ACTIONS = frozenset({"handoff"})
MAX_NODES = 500


class ScriptError(ValueError):
    """A script document is malformed; ``problems`` lists each issue with its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Option:
    """A choice offered with a message: a button on the web, a number on SMS."""

    label: str
    value: str
    next: str


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a script."""

    id: str
    say: tuple[str, ...]
    options: tuple[Option, ...] = ()
    next: str | None = None
    answer: str | None = None  # free-text answer stored under this name, then ``next``
    action: str | None = None
    end: bool = False

    @property
    def waits(self) -> bool:
        """Whether the flow pauses here for the person."""
        return bool(self.options) or self.answer is not None


@dataclass(frozen=True, slots=True)
class Script:
    """A validated script, ready for the engine."""

    name: str
    start: str
    nodes: Mapping[str, Node]
    emergency: str
    not_understood: str

    def node(self, node_id: str) -> Node:
        """The node with this id (validated to exist at load time)."""
        return self.nodes[node_id]


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers where each mapping started, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        str(k): v for k, v in loader.construct_mapping(node, deep=True).items()
    }
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.1 reads yes/no/on/off as booleans, so an option `value: no` would silently become
# False. Script authors are not programmers: only true/false are booleans here.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_script(text: str, source: str = "<script>") -> Script:
    """Parse and check a script document, raising ScriptError with every problem found."""
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 -- _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScriptError(source, [f"{where}not valid YAML ({problem})"]) from None
    return _build(document, source)


def load_script_file(path: Path) -> Script:
    """Load a script from a file; the file name is used in error messages."""
    return parse_script(path.read_text(encoding="utf-8"), source=str(path))


def load_builtin_script(name: str) -> Script:
    """Load one of the scripts shipped in ``bot/scripts``."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ScriptError(name, ["script names are letters, digits, '-' and '_'"])
    resource = resources.files("bot") / "scripts" / f"{name}.yaml"
    if not resource.is_file():
        raise ScriptError(name, [f"no shipped script named {name!r}"])
    return parse_script(resource.read_text(encoding="utf-8"), source=f"{name}.yaml")


def _build(document: Any, source: str) -> Script:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ScriptError(source, ["line 1: a script is a mapping with 'schema', 'name', 'nodes'"])

    def at(mapping: Mapping[str, Any]) -> str:
        return f"line {mapping.get('__line__', '?')}"

    if document.get("schema") != SCHEMA_VERSION:
        problems.append(f"{at(document)}: 'schema' must be {SCHEMA_VERSION}")
    name = document.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{at(document)}: 'name' must be a non-empty string")
    raw_nodes = document.get("nodes")
    if not isinstance(raw_nodes, dict) or len(raw_nodes) <= 1:
        raise ScriptError(source, [*problems, f"{at(document)}: 'nodes' must be a mapping"])
    if len(raw_nodes) - 1 > MAX_NODES:
        problems.append(f"{at(raw_nodes)}: more than {MAX_NODES} nodes")

    nodes: dict[str, Node] = {}
    for node_id, raw in raw_nodes.items():
        if node_id == "__line__":
            continue
        node = _build_node(str(node_id), raw, problems, at(raw_nodes))
        if node is not None:
            nodes[node.id] = node

    start = document.get("start")
    emergency = document.get("emergency")
    for key, value in (("start", start), ("emergency", emergency)):
        if value not in nodes:
            problems.append(f"{at(document)}: '{key}' must name a node, got {value!r}")
    not_understood = document.get("not_understood")
    if not isinstance(not_understood, str) or not not_understood.strip():
        problems.append(f"{at(document)}: 'not_understood' message is required")

    lines = {nid: r.get("__line__", "?") for nid, r in raw_nodes.items() if isinstance(r, dict)}
    roots = [r for r in (start, emergency) if isinstance(r, str)]
    problems.extend(_graph_problems(nodes, lines, roots))
    if problems:
        raise ScriptError(source, problems)
    return Script(
        name=str(name),
        start=str(start),
        nodes=nodes,
        emergency=str(emergency),
        not_understood=str(not_understood),
    )


def _build_node(node_id: str, raw: Any, problems: list[str], parent_at: str) -> Node | None:
    if not isinstance(raw, dict):
        problems.append(f"{parent_at}: node {node_id!r} must be a mapping")
        return None
    at = f"line {raw['__line__']}"
    allowed = {"say", "options", "next", "answer", "action", "end", "__line__"}
    for key in raw.keys() - allowed:
        problems.append(f"{at}: node {node_id!r} has unknown key {key!r}")

    say = raw.get("say")
    texts = (say,) if isinstance(say, str) else tuple(say) if isinstance(say, list) else ()
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        problems.append(f"{at}: node {node_id!r} needs 'say': a message or a list of messages")

    options: list[Option] = []
    for raw_option in raw.get("options") or []:
        if not isinstance(raw_option, dict) or not all(
            isinstance(raw_option.get(k), str) and raw_option[k] for k in ("label", "value", "next")
        ):
            problems.append(f"{at}: each option of {node_id!r} needs 'label', 'value' and 'next'")
            continue
        options.append(Option(raw_option["label"], raw_option["value"], raw_option["next"]))
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        problems.append(f"{at}: node {node_id!r} repeats an option value")

    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        problems.append(f"{at}: node {node_id!r} has unknown action {action!r}")
    answer = raw.get("answer")
    if answer is not None and (not isinstance(answer, str) or not answer.isidentifier()):
        problems.append(f"{at}: 'answer' of {node_id!r} must be a simple name")
    end = raw.get("end", False) is True
    next_node = raw.get("next")
    exits = sum((bool(options), answer is not None, end))
    if exits > 1:
        problems.append(f"{at}: node {node_id!r} may have only one of 'options', 'answer', 'end'")
    if not end and not options and next_node is None:
        problems.append(f"{at}: node {node_id!r} leads nowhere: give it options, next or end")
    if answer is not None and next_node is None:
        problems.append(f"{at}: node {node_id!r} waits for an answer but has no 'next'")
    return Node(
        id=node_id,
        say=tuple(str(t) for t in texts),
        options=tuple(options),
        next=str(next_node) if next_node is not None else None,
        answer=answer,
        action=action,
        end=end,
    )


def _graph_problems(
    nodes: Mapping[str, Node], lines: Mapping[str, Any], roots: list[str]
) -> list[str]:
    problems: list[str] = []
    for node in nodes.values():
        targets = [o.next for o in node.options] + ([node.next] if node.next else [])
        for target in targets:
            if target not in nodes:
                problems.append(
                    f"line {lines.get(node.id, '?')}: node {node.id!r} leads to missing node "
                    f"{target!r}"
                )
    reachable = _reachable(nodes, roots)
    for node_id in nodes.keys() - reachable:
        problems.append(f"line {lines.get(node_id, '?')}: node {node_id!r} is unreachable")
    # A chain of nodes that never wait would loop forever within one turn.
    for node in nodes.values():
        path: list[str] = []
        step: Node | None = node
        while step is not None and not step.waits and not step.end and step.next:
            if step.id in path:
                problems.append(
                    f"line {lines.get(node.id, '?')}: nodes {' -> '.join(path)} loop "
                    "without waiting for the person"
                )
                break
            path.append(step.id)
            step = nodes.get(step.next)
    return sorted(set(problems), key=_line_order)


def _reachable(nodes: Mapping[str, Node], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [root for root in roots if root in nodes]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in nodes:
            continue
        seen.add(node_id)
        node = nodes[node_id]
        todo.extend(o.next for o in node.options)
        if node.next:
            todo.append(node.next)
    return seen


def _line_order(problem: str) -> tuple[int, str]:
    number = problem.removeprefix("line ").split(":", 1)[0]
    return (int(number) if number.isdigit() else 0, problem)
