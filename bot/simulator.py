"""Chat with a script in the terminal, with a clock you control.

The simulator drives the same pure engine as the service, with its own throwaway state and
nothing stored, so an author can try every branch, including timeouts, before publishing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bot.directory import load_demo_directory, match_resources
from bot.engine import (
    Effect,
    FlowState,
    Inbound,
    InboundKind,
    Reply,
    ReportAdditionSlot,
    ReportSlot,
    ResourceSlot,
    StepResult,
    divert,
    step,
)
from bot.script import Script
from bot.slots import addition_reply, receipt_reply, resource_replies
from crypto.receipts import ReceiptHasher

COMMANDS = """\
Type a message as the person would. Commands:
  /timeout      let the current question time out
  /wait N       let N minutes pass (timers fire if due)
  /state        show where the conversation is
  /restart      start a new conversation
  /quit         leave the simulator"""


START_TIME = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Said:
    """One line of the simulation.

    What the bot said (``kind`` "bot", with its options), or a note to the author about
    what the service would do (``kind`` "note").
    """

    kind: str
    text: str
    options: tuple[str, ...] = ()


def format_lines(said: Iterable[Said]) -> list[str]:
    """The terminal's rendering: ``bot> text``, numbered options, ``[notes]``."""
    lines = []
    for item in said:
        if item.kind == "note":
            lines.append(f"[{item.text}]")
            continue
        lines.append(f"bot> {item.text}")
        lines += [f"       {i}. {label}" for i, label in enumerate(item.options, start=1)]
    return lines


class Simulator:
    """One simulated conversation: send text, move time, read what the service says."""

    def __init__(
        self, script: Script, language: str | None = None, channel: str = "webchat"
    ) -> None:
        self.script = script
        self.language = language
        self.channel = channel
        self.directory = load_demo_directory()
        self.reports: dict[str, list[str]] = {}  # receipt code -> additions, in memory only
        self.now = START_TIME
        self.state = FlowState(language=language)

    def to_session(self) -> dict[str, Any]:
        """Everything needed to go on later (the dashboard keeps it in the page, not here)."""
        return {
            "state": self.state.to_dict(),
            "now": self.now.isoformat(),
            "reports": sorted(self.reports),
        }

    @classmethod
    def resume(
        cls,
        script: Script,
        session: dict[str, Any],
        language: str | None = None,
        channel: str = "webchat",
    ) -> Simulator:
        """Go on from :meth:`to_session`; raises ValueError for a session that is not one."""
        simulator = cls(script, language, channel)
        try:
            simulator.state = FlowState.from_dict(session["state"])
            simulator.now = datetime.fromisoformat(session["now"])
            simulator.reports = {str(code): [] for code in session.get("reports", [])}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a simulation session ({exc})") from None
        if simulator.state.node is not None and simulator.state.node not in script.nodes:
            raise ValueError(f"the script has no node {simulator.state.node!r} any more")
        return simulator

    def restart(self) -> list[Said]:
        """Open a fresh conversation."""
        self.state = FlowState(language=self.language)
        return self._step(Inbound(InboundKind.START, self.now, channel=self.channel))

    def send(self, text: str) -> list[Said]:
        """The person sends a message."""
        return self._step(Inbound(InboundKind.TEXT, self.now, text, self.channel))

    def wait(self, minutes: float) -> list[Said]:
        """Let time pass; fire the timer if it came due."""
        self.now += timedelta(minutes=minutes)
        due = self.state.next_timer()
        if due is None or self.now < due:
            return []
        return self._step(Inbound(InboundKind.TIMER, self.now, channel=self.channel))

    def time_out(self) -> list[Said]:
        """Jump to the current question's deadline."""
        if self.state.deadline is None:
            return [Said("note", "nothing is waiting for an answer")]
        return self.wait((self.state.deadline - self.now).total_seconds() / 60)

    def describe(self) -> list[str]:
        """Where the conversation is, for the author."""
        state = self.state
        lines = [f"[node: {state.node}, language: {state.language or self.script.base_language}]"]
        if state.results:
            lines.append(
                "[results: " + ", ".join(f"{k}={v}" for k, v in state.results.items()) + "]"
            )
        if state.deadline:
            minutes = int((state.deadline - self.now).total_seconds() // 60)
            lines.append(f"[times out in {minutes} min]")
        return lines

    def _step(self, inbound: Inbound) -> list[Said]:
        result: StepResult = step(self.script, self.state, inbound)
        self.state = result.state
        said = [self._said(reply) for reply in self._fill(result.replies)]
        if result.handoff_priority:
            said.append(Said("note", f"handoff requested, {result.handoff_priority} priority"))
        if result.state.with_human and self.script.after_hours is not None:
            # Nobody is ever on call in the simulator: show the path the person gets then.
            said.append(
                Said("note", "nobody on call in the simulator: the after-hours path follows")
            )
            diverted = divert(self.script, result.state, self.script.after_hours, self.now)
            self.state = diverted.state
            said += [self._said(reply) for reply in self._fill(diverted.replies)]
        notes = {
            Effect.EMERGENCY: "emergency: urgent for advocates",
            Effect.DURESS: "duress word: conversation frozen and flagged",
            Effect.WIPE: "conversation wiped: nothing more is sent",
            Effect.EXPIRE: "session expired quietly",
            Effect.END: "conversation ended",
        }
        said += [Said("note", note) for effect, note in notes.items() if effect in result.effects]
        return said

    @staticmethod
    def _said(reply: Reply) -> Said:
        return Said("bot", reply.text, tuple(option.label for option in reply.options))

    def _fill(self, replies: tuple[Reply, ...]) -> list[Reply]:
        language = self.state.language or self.script.base_language
        filled: list[Reply] = []
        for reply in replies:
            slot = reply.slot
            if isinstance(slot, ResourceSlot):
                entries = match_resources(
                    self.directory, area=slot.area, categories=slot.categories, language=language
                )
                filled += resource_replies(self.script, entries, language)
            elif isinstance(slot, ReportSlot):
                code = ReceiptHasher.new_code()
                self.reports[code] = []
                filled.append(receipt_reply(self.script, code, language))
            elif isinstance(slot, ReportAdditionSlot):
                typed = ReceiptHasher.normalise(slot.code)
                found = typed is not None and typed in self.reports
                if typed is not None and found:
                    self.reports[typed].append(slot.text)
                filled.append(addition_reply(self.script, found, language))
            else:
                filled.append(reply)
        return filled


def run(
    script: Script,
    lines: Iterable[str],
    out: TextIO,
    language: str | None = None,
    channel: str = "webchat",
) -> None:
    """The interactive loop: read lines, print what the service would say."""
    simulator = Simulator(script, language, channel)
    print(f"Simulating {script.name!r}. Type /help for commands.", file=out)
    _print(simulator.restart(), out)
    for raw in lines:
        line = raw.rstrip("\n")
        command, _, argument = line.strip().partition(" ")
        if command == "/quit":
            break
        if command == "/help":
            print(COMMANDS, file=out)
        elif command == "/timeout":
            _print(simulator.time_out(), out)
        elif command == "/wait":
            try:
                _print(simulator.wait(float(argument)), out)
            except ValueError:
                print("[usage: /wait MINUTES]", file=out)
        elif command == "/state":
            for line in simulator.describe():
                print(line, file=out)
        elif command == "/restart":
            _print(simulator.restart(), out)
        elif command.startswith("/"):
            print(f"[unknown command {command}; /help lists them]", file=out)
        else:
            _print(simulator.send(line), out)


def _print(said: list[Said], out: TextIO) -> None:
    for line in format_lines(said):
        print(line, file=out)
    out.flush()
