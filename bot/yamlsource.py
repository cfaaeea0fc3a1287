"""YAML loading for documents edited by people who are not programmers.

Every mapping remembers the line it started on (under the key ``__line__``) so problems can
be reported where they are, and only ``true``/``false`` are booleans: YAML 1.1 would turn an
option value ``no`` or ``on`` into a boolean without a word.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

LINE_KEY = "__line__"
KEY_LINES_KEY = "__key_lines__"


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records mapping line numbers and reads yes/no as words."""


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    constructed = loader.construct_mapping(node, deep=True)
    mapping: dict[str, Any] = {str(key): value for key, value in constructed.items()}
    mapping[LINE_KEY] = node.start_mark.line + 1
    mapping[KEY_LINES_KEY] = {
        str(loader.construct_object(key)): key.start_mark.line + 1 for key, _ in node.value
    }
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class YamlProblem(ValueError):
    """The text is not valid YAML; ``line`` is where the parser gave up."""

    def __init__(self, line: int | None, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def load_yaml(text: str) -> Any:
    """Parse YAML with line numbers; raises YamlProblem."""
    try:
        return yaml.load(text, Loader=LineLoader)  # noqa: S506 -- LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlProblem(mark.line + 1 if mark is not None else None, problem) from None


def line_of(value: Any, default: int = 0) -> int:
    """The line a mapping started on, or ``default`` for anything else."""
    if isinstance(value, dict):
        return int(value.get(LINE_KEY, default))
    return default


def line_of_key(mapping: dict[str, Any], key: str, default: int = 0) -> int:
    """The line a key of the mapping is written on (a node's ``id:`` line, say)."""
    return int(mapping.get(KEY_LINES_KEY, {}).get(key, default))


def without_line(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping's real keys, without the bookkeeping ones."""
    return {k: v for k, v in mapping.items() if k not in (LINE_KEY, KEY_LINES_KEY)}
