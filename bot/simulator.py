"""Chat with a script in the terminal, with a clock you control.

The simulator drives the same pure engine as the service, with its own throwaway state and
nothing stored, so an author can try every branch, including timeouts, before publishing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TextIO

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
        self.now = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
        self.state = FlowState(language=language)

    def restart(self) -> list[str]:
        """Open a fresh conversation."""
        self.state = FlowState(language=self.language)
        return self._step(Inbound(InboundKind.START, self.now, channel=self.channel))

    def send(self, text: str) -> list[str]:
        """The person sends a message."""
        return self._step(Inbound(InboundKind.TEXT, self.now, text, self.channel))

    def wait(self, minutes: float) -> list[str]:
        """Let time pass; fire the timer if it came due."""
        self.now += timedelta(minutes=minutes)
        due = self.state.next_timer()
        if due is None or self.now < due:
            return []
        return self._step(Inbound(InboundKind.TIMER, self.now, channel=self.channel))

    def time_out(self) -> list[str]:
        """Jump to the current question's deadline."""
        if self.state.deadline is None:
            return ["[nothing is waiting for an answer]"]
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

    def _step(self, inbound: Inbound) -> list[str]:
        result: StepResult = step(self.script, self.state, inbound)
        self.state = result.state
        lines = []
        for reply in self._fill(result.replies):
            lines.append(f"bot> {reply.text}")
            lines += [f"       {i}. {o.label}" for i, o in enumerate(reply.options, start=1)]
        if result.handoff_priority:
            lines.append(f"[handoff requested, {result.handoff_priority} priority]")
        if result.state.with_human and self.script.after_hours is not None:
            # Nobody is ever on call in the simulator: show the path the person gets then.
            lines.append("[nobody on call in the simulator: the after-hours path follows]")
            diverted = divert(self.script, result.state, self.script.after_hours, self.now)
            self.state = diverted.state
            for reply in self._fill(diverted.replies):
                lines.append(f"bot> {reply.text}")
                lines += [f"       {i}. {o.label}" for i, o in enumerate(reply.options, start=1)]
        notes = {
            Effect.EMERGENCY: "[emergency: urgent for advocates]",
            Effect.DURESS: "[duress word: conversation frozen and flagged]",
            Effect.WIPE: "[conversation wiped: nothing more is sent]",
            Effect.EXPIRE: "[session expired quietly]",
            Effect.END: "[conversation ended]",
        }
        lines += [note for effect, note in notes.items() if effect in result.effects]
        return lines

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
            _print(simulator.describe(), out)
        elif command == "/restart":
            _print(simulator.restart(), out)
        elif command.startswith("/"):
            print(f"[unknown command {command}; /help lists them]", file=out)
        else:
            _print(simulator.send(line), out)


def _print(lines: list[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out)
    out.flush()
