"""The flow engine: a pure function from (script, state, inbound) to (state, replies, effects).

Pure so that it can be replayed, simulated and property-tested without a database, and so
that a restart can never leave it half-way: the service stores whatever state it returns.
Safety keywords are checked before the script sees a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.keywords import Keyword, match_keyword
from bot.script import Node, Script

# Automatic moves (nodes that do not wait) allowed in one turn; the validator rejects loops,
# this bounds a turn even for a script loaded without validation.
STEP_LIMIT = 50


class InboundKind(StrEnum):
    """How the person reached us this turn."""

    START = "start"  # opened the chat (web) or first contact
    TEXT = "text"
    CHOICE = "choice"  # pressed a button whose value is in ``text``


class Effect(StrEnum):
    """What the service must do besides sending replies."""

    WIPE = "wipe"  # quick exit or opt-out: destroy everything, say nothing more
    END = "end"  # the script finished
    HANDOFF = "handoff"  # the person asked for a human
    EMERGENCY = "emergency"  # an emergency keyword: urgent, whatever else happens


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing the person did."""

    kind: InboundKind
    text: str = ""


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """A choice attached to a reply."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send to the person."""

    text: str
    options: tuple[ReplyOption, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowState:
    """Where the person is in the script; serialisable so it survives restarts."""

    node: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    ended: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the store (which encrypts it)."""
        return {"node": self.node, "answers": dict(self.answers), "ended": self.ended}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowState:
        """Rebuild from :meth:`to_dict` output, tolerating missing keys from older versions."""
        node = data.get("node")
        answers = data.get("answers") or {}
        return cls(
            node=node if isinstance(node, str) else None,
            answers={str(k): str(v) for k, v in answers.items()},
            ended=bool(data.get("ended", False)),
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """The engine's answer for one turn."""

    state: FlowState
    replies: tuple[Reply, ...] = ()
    effects: frozenset[Effect] = frozenset()


def step(script: Script, state: FlowState, inbound: Inbound) -> StepResult:
    """Advance the conversation by one inbound event.

    Never raises for any input text: unknown answers get the script's "not understood"
    message and the question again, so the person is never left without a way forward.
    """
    keyword = match_keyword(inbound.text) if inbound.kind is not InboundKind.START else None
    if keyword in (Keyword.QUICK_EXIT, Keyword.OPT_OUT):
        return StepResult(FlowState(ended=True), (), frozenset({Effect.WIPE}))
    if keyword is Keyword.EMERGENCY:
        result = _enter(script, script.emergency, state.answers)
        return StepResult(result.state, result.replies, result.effects | {Effect.EMERGENCY})

    current = script.nodes.get(state.node) if state.node else None
    if state.ended or current is None or not current.waits or inbound.kind is InboundKind.START:
        return _enter(script, script.start, {})

    if current.answer is not None:
        if inbound.kind is InboundKind.TEXT and inbound.text.strip():
            answers = {**state.answers, current.answer: inbound.text.strip()}
            assert current.next is not None  # noqa: S101 -- guaranteed by the validator
            return _enter(script, current.next, answers)
        return _not_understood(script, current, state)

    chosen = _match_option(current, inbound)
    if chosen is None:
        return _not_understood(script, current, state)
    answers = {**state.answers, current.id: chosen}
    target = next(o.next for o in current.options if o.value == chosen)
    return _enter(script, target, answers)


def _match_option(node: Node, inbound: Inbound) -> str | None:
    """Match a button value, an option number ("2", as SMS has no buttons) or a label."""
    text = inbound.text.strip()
    for option in node.options:
        if text == option.value:
            return option.value
    if inbound.kind is InboundKind.CHOICE:
        return None  # a button value we never offered: treat as not understood
    # ASCII and short: "²" passes isdigit() but not int(), and a 10 kB number costs CPU.
    if text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= len(node.options):
        return node.options[int(text) - 1].value
    folded = text.casefold()
    for option in node.options:
        if folded in (option.label.casefold(), option.value.casefold()):
            return option.value
    return None


def _not_understood(script: Script, node: Node, state: FlowState) -> StepResult:
    return StepResult(state, (Reply(script.not_understood), *_say(node)))


def _say(node: Node) -> tuple[Reply, ...]:
    options = tuple(ReplyOption(o.label, o.value) for o in node.options)
    *leading, last = node.say
    return (*(Reply(text) for text in leading), Reply(last, options))


def _enter(script: Script, node_id: str, answers: Mapping[str, str]) -> StepResult:
    replies: list[Reply] = []
    effects: set[Effect] = set()
    node = script.node(node_id)
    for _ in range(STEP_LIMIT):
        replies.extend(_say(node))
        if node.action == "handoff":
            effects.add(Effect.HANDOFF)
        if node.end:
            effects.add(Effect.END)
            return StepResult(
                FlowState(node.id, answers, ended=True), tuple(replies), frozenset(effects)
            )
        if node.waits or node.next is None:
            return StepResult(FlowState(node.id, answers), tuple(replies), frozenset(effects))
        node = script.node(node.next)
    # Only reachable with an unvalidated looping script: end rather than spin.
    effects.add(Effect.END)
    return StepResult(FlowState(node.id, answers, ended=True), tuple(replies), frozenset(effects))
