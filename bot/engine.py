"""The flow engine: a pure function from (script, state, inbound) to (state, replies, effects).

Pure so that it can be replayed, simulated and property-tested without a database, and so
that a restart can never leave it half-way: the service stores whatever state it returns.
Time comes in with the inbound event, never from a clock, so timers behave the same in a
test, in the simulator and after a restart.

Order of checks for every message: session expiry (start fresh), global keywords (leave,
wipe, duress, emergency, help, language), then the script's own routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.keywords import Keyword, match_keyword
from bot.script import AddToReport, Node, Script, ShowResources, SubmitReport, Wait

# Automatic moves (nodes that do not wait) allowed in one turn. The loader rejects loops;
# this bounds a turn even for a script built without it.
STEP_LIMIT = 50
# Option numbers are short: "²" passes str.isdigit() but not int(), and a 10 kB number
# would cost CPU for nothing.
_MAX_OPTION_DIGITS = 3


class InboundKind(StrEnum):
    """What happened this turn."""

    START = "start"  # opened the chat (web) or first contact
    TEXT = "text"
    CHOICE = "choice"  # pressed a button whose value is in ``text``
    TIMER = "timer"  # a wait timed out or the session expired (sent by the service)


class Effect(StrEnum):
    """What the service must do besides sending replies."""

    WIPE = "wipe"  # quick exit, DELETE or opt-out: destroy everything, say nothing more
    END = "end"  # the script finished
    EXPIRE = "expire"  # the session ran out: close it quietly
    HANDOFF = "handoff"  # the person asked for a human
    EMERGENCY = "emergency"  # an emergency keyword: urgent, whatever else happens
    DURESS = "duress"  # the duress word: innocuous reply, conversation frozen and flagged
    RELAY = "relay"  # with an advocate: the message is theirs to read, the bot stays quiet


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing the person (or a timer) did, when, and on which channel."""

    kind: InboundKind
    at: datetime
    text: str = ""
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """A choice attached to a reply."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ResourceSlot:
    """Where directory entries go: the service looks them up and fills this in."""

    categories: tuple[str, ...]
    area: str


@dataclass(frozen=True, slots=True)
class ReportSlot:
    """Where a report's receipt goes: the service stores the report and fills this in."""

    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ReportAdditionSlot:
    """Where the answer to "add to my report" goes, once the service has tried."""

    code: str
    text: str


Slot = ResourceSlot | ReportSlot | ReportAdditionSlot


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send to the person (or a slot the service turns into messages)."""

    text: str
    options: tuple[ReplyOption, ...] = ()
    slot: Slot | None = None
    # What the transcript keeps instead of ``text`` (a receipt code is never stored).
    record_as: str | None = None


@dataclass(frozen=True, slots=True)
class FlowState:
    """Where the person is; serialisable (the store encrypts it) so it survives restarts."""

    node: str | None = None
    results: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None
    ended: bool = False
    frozen: bool = False
    flags: tuple[str, ...] = ()
    # Handed to a person (waiting for or talking with an advocate): the bot answers only
    # the safety keywords until the service diverts the flow (after hours) or it ends.
    with_human: bool = False
    deadline: datetime | None = None  # when the current wait times out
    expires_at: datetime | None = None  # when the session ends without activity

    def next_timer(self) -> datetime | None:
        """When the service must wake this conversation with a TIMER event."""
        times = [t for t in (self.deadline, self.expires_at) if t is not None]
        return min(times) if times and not self.ended else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "node": self.node,
            "results": dict(self.results),
            "language": self.language,
            "ended": self.ended,
            "frozen": self.frozen,
            "flags": list(self.flags),
            "with_human": self.with_human,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowState:
        """Rebuild from :meth:`to_dict` output, tolerating missing keys."""

        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        node, language = data.get("node"), data.get("language")
        return cls(
            node=node if isinstance(node, str) else None,
            results={str(k): str(v) for k, v in (data.get("results") or {}).items()},
            language=language if isinstance(language, str) else None,
            ended=bool(data.get("ended", False)),
            frozen=bool(data.get("frozen", False)),
            flags=tuple(str(f) for f in data.get("flags") or ()),
            with_human=bool(data.get("with_human", False)),
            deadline=when("deadline"),
            expires_at=when("expires_at"),
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """The engine's answer for one turn."""

    state: FlowState
    replies: tuple[Reply, ...] = ()
    effects: frozenset[Effect] = frozenset()
    handoff_priority: str | None = None
    secret_inbound: bool = False  # the person's message must not be kept (a receipt code)


def step(script: Script, state: FlowState, inbound: Inbound) -> StepResult:
    """Advance the conversation by one event.

    Never raises for any input text: an unknown answer gets the script's "not understood"
    message and the question again, so the person always has a way forward.
    """
    if inbound.kind is InboundKind.TIMER:
        return _timer(script, state, inbound)
    if state.expires_at is not None and inbound.at >= state.expires_at:
        state = FlowState(language=state.language)  # a stale session never traps anyone
    result = _respond(script, state, inbound)
    if Effect.WIPE in result.effects or result.state.ended:
        return result
    expires = inbound.at + timedelta(minutes=script.session_minutes)
    return replace(result, state=replace(result.state, expires_at=expires))


def _respond(script: Script, state: FlowState, inbound: Inbound) -> StepResult:
    language = state.language or script.base_language
    match = match_keyword(script, inbound.text) if inbound.kind is not InboundKind.START else None
    keyword = match.keyword if match else None
    if keyword in (Keyword.QUICK_EXIT, Keyword.OPT_OUT, Keyword.DELETE):
        return StepResult(FlowState(ended=True), effects=frozenset({Effect.WIPE}))
    if keyword is Keyword.EMERGENCY:
        entered = _enter(script, script.emergency, replace(state, frozen=False), inbound)
        flags = tuple(dict.fromkeys((*entered.state.flags, "emergency")))
        return replace(
            entered,
            state=replace(entered.state, flags=flags),
            effects=entered.effects | {Effect.EMERGENCY},
        )
    if state.frozen or keyword is Keyword.DURESS:
        # Look like an ordinary exchange to whoever is reading over the person's shoulder.
        flags = tuple(dict.fromkeys((*state.flags, "duress")))
        frozen = replace(state, frozen=True, flags=flags, deadline=None)
        reply = Reply(script.message("duress_reply", language))
        return StepResult(frozen, (reply,), frozenset({Effect.DURESS}))
    if state.with_human:
        return StepResult(state, (), frozenset({Effect.RELAY}))

    current = script.nodes.get(state.node) if state.node else None
    waiting = current is not None and current.wait is not None and not state.ended
    if keyword is Keyword.LANGUAGE and match is not None and match.language:
        switched = replace(state, language=match.language)
        said = Reply(script.message("language_changed", match.language))
        if waiting and current is not None:
            return StepResult(switched, (said, *_ask(script, current, match.language)))
        return _prefixed(said, _enter(script, script.start, switched, inbound))
    if keyword is Keyword.HELP:
        said = Reply(script.message("help", language))
        if waiting and current is not None:
            return StepResult(state, (said, *_ask(script, current, language)))
        return _prefixed(said, _enter(script, script.start, state, inbound))

    if not waiting or current is None or inbound.kind is InboundKind.START:
        fresh = FlowState(language=state.language)
        return _enter(script, script.start, fresh, inbound)
    assert current.wait is not None  # noqa: S101 -- 'waiting' says so
    return _route(script, state, current, current.wait, inbound)


def _route(
    script: Script, state: FlowState, node: Node, wait: Wait, inbound: Inbound
) -> StepResult:
    language = state.language or script.base_language
    answer = inbound.text.strip()
    target, category = _match_option(script, wait, inbound, language)
    if target is None and inbound.kind is InboundKind.TEXT and answer:
        for case in wait.cases:
            if case.matches(answer):
                target, category = case.next, case.category
                break
        else:
            if wait.default is not None:
                target, category = wait.default, "other"
    if target is None or category is None:
        said = Reply(script.message("not_understood", language))
        return StepResult(state, (said, *_ask(script, node, language)))
    results = {**state.results, node.id: category}
    if wait.save_as is not None and inbound.kind is InboundKind.TEXT:
        results[wait.save_as] = answer
    entered = _enter(script, target, replace(state, results=results), inbound)
    return replace(entered, secret_inbound=wait.secret)


def _match_option(
    script: Script, wait: Wait, inbound: Inbound, language: str
) -> tuple[str | None, str | None]:
    """A button value, an option number ("2": SMS has no buttons) or a label typed out."""
    text = inbound.text.strip()
    for option in wait.options:
        if text == option.value:
            return option.next, option.value
    if inbound.kind is InboundKind.CHOICE:
        return None, None  # a button we never offered: not understood
    if text.isascii() and text.isdigit() and len(text) <= _MAX_OPTION_DIGITS:
        index = int(text) - 1
        if 0 <= index < len(wait.options):
            return wait.options[index].next, wait.options[index].value
    folded = text.casefold()
    for option in wait.options:
        labels = {label.casefold() for label in option.label.by_language.values()}
        if folded in labels or folded == option.value.casefold():
            return option.next, option.value
    return None, None


def _timer(script: Script, state: FlowState, inbound: Inbound) -> StepResult:
    now = inbound.at
    if state.ended:
        return StepResult(state)
    if state.expires_at is not None and now >= state.expires_at:
        return StepResult(replace(state, ended=True, deadline=None), (), frozenset({Effect.EXPIRE}))
    node = script.nodes.get(state.node) if state.node else None
    timeout = node.wait.timeout if node is not None and node.wait is not None else None
    if state.deadline is None or now < state.deadline or timeout is None or state.frozen:
        return StepResult(state)  # woken early or for nothing: no message, no change
    if state.with_human:
        return StepResult(state)  # an advocate's conversation: only the session can expire
    return _enter(script, timeout.next, state, inbound)


def divert(script: Script, state: FlowState, node_id: str, at: datetime) -> StepResult:
    """Move the flow to ``node_id`` from outside: nobody answered a handoff in time.

    The person is no longer with a human, so the bot speaks again from that node on.
    """
    moved = replace(state, with_human=False)
    result = _enter(script, node_id, moved, Inbound(InboundKind.TIMER, at))
    if result.state.ended:
        return result
    expires = at + timedelta(minutes=script.session_minutes)
    return replace(result, state=replace(result.state, expires_at=expires))


def _ask(script: Script, node: Node, language: str) -> tuple[Reply, ...]:
    """The node's question again: its last message, with its options."""
    return (_render(script, node, language)[-1],)


def _render(script: Script, node: Node, language: str) -> list[Reply]:
    base = script.base_language
    replies = [Reply(text.render(language, base)) for text in node.say]
    if replies and node.wait is not None and node.wait.options:
        options = tuple(
            ReplyOption(o.label.render(language, base), o.value) for o in node.wait.options
        )
        replies[-1] = Reply(replies[-1].text, options)
    return replies


def _prefixed(reply: Reply, result: StepResult) -> StepResult:
    return replace(result, replies=(reply, *result.replies))


def _enter(script: Script, node_id: str, state: FlowState, inbound: Inbound) -> StepResult:
    language = state.language or script.base_language
    replies: list[Reply] = []
    effects: set[Effect] = set()
    priority: str | None = None
    results = dict(state.results)
    node = script.node(node_id)
    for _ in range(STEP_LIMIT):
        if node.only_on and inbound.channel not in node.only_on and node.otherwise:
            node = script.node(node.otherwise)
            continue
        replies.extend(_render(script, node, language))
        results.update(node.set)
        slot = _slot(node, results)
        if slot is not None:
            replies.append(Reply("", slot=slot))
        for name in _consumed(node):
            results.pop(name, None)  # handed to the report: not kept with the conversation
        if node.handoff is not None:
            effects.add(Effect.HANDOFF)
            priority = "high" if "high" in (priority, node.handoff) else node.handoff
            state = replace(state, with_human=True)
        if node.end or node.wait is not None or node.next is None:
            break
        node = script.node(node.next)
    else:
        node = replace(node, end=True)  # only an unchecked looping script gets here
    deadline = None
    if node.wait is not None and node.wait.timeout is not None:
        deadline = inbound.at + timedelta(minutes=node.wait.timeout.minutes)
    if node.end:
        effects.add(Effect.END)
    new_state = replace(
        state, node=node.id, results=results, ended=node.end, deadline=deadline, frozen=False
    )
    return StepResult(new_state, tuple(replies), frozenset(effects), priority)


def _slot(node: Node, results: Mapping[str, str]) -> Slot | None:
    if isinstance(node.resources, ShowResources):
        return ResourceSlot(node.resources.categories, results.get(node.resources.area, ""))
    if isinstance(node.report, SubmitReport):
        return ReportSlot({f: results[f] for f in node.report.fields if f in results})
    if isinstance(node.report, AddToReport):
        return ReportAdditionSlot(
            results.get(node.report.code, ""), results.get(node.report.text, "")
        )
    return None


def _consumed(node: Node) -> tuple[str, ...]:
    if isinstance(node.report, SubmitReport):
        return node.report.fields
    if isinstance(node.report, AddToReport):
        return (node.report.code, node.report.text)
    return ()
