"""Golden conversations: recorded transcripts replayed against the shipped scripts.

A transcript is what ``porchlight script simulate`` shows. ``#! key=value ...`` sets the
script, channel and language; ``# ...`` is a comment; ``> text`` is what the person typed
(or a simulator command such as ``/timeout``); every other line is what must come back.
``{code}`` stands for the receipt code shown most recently, in input and output alike.

Re-record after a deliberate script change with ``PORCHLIGHT_TEST_UPDATE_GOLDEN=1 make test``,
then read the diff as carefully as a script review.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.script import load_builtin_script
from bot.simulator import Said, Simulator, format_lines

FOLDER = Path(__file__).resolve().parent.parent / "conversations"
TRANSCRIPTS = sorted(FOLDER.glob("*.txt"))
CODE = re.compile(r"\d{4} \d{4} \d{4} \d{4}")


def replay(path: Path) -> tuple[list[str], list[str]]:
    """(expected lines, actual lines) for one transcript."""
    header: dict[str, str] = {}
    expected: list[str] = []
    inputs: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#!"):
            for part in line[2:].split():
                key, _, value = part.partition("=")
                header[key] = value
        elif line.startswith("> "):
            inputs.append(line[2:])
            expected.append(line)
        elif not line.startswith("#") and line.strip():
            expected.append(line)

    simulator = Simulator(
        load_builtin_script(header.get("script", "default")),
        language=header.get("lang"),
        channel=header.get("channel", "webchat"),
    )
    code = ""
    actual: list[str] = []

    def show(said: list[Said]) -> None:
        nonlocal code
        for out in format_lines(said):
            found = CODE.search(out)
            if found:
                code = found.group()
                out = out.replace(code, "{code}")
            actual.append(out)

    show(simulator.restart())
    for typed in inputs:
        actual.append(f"> {typed}")
        command, _, argument = typed.partition(" ")
        if command == "/timeout":
            show(simulator.time_out())
        elif command == "/wait":
            show(simulator.wait(float(argument)))
        else:
            show(simulator.send(typed.replace("{code}", code)))
    return expected, actual


def rewrite(path: Path, actual: list[str]) -> None:
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    path.write_text("\n".join(kept + actual) + "\n", encoding="utf-8")


def test_there_are_golden_conversations() -> None:
    assert len(TRANSCRIPTS) >= 6


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_golden_conversation(path: Path) -> None:
    expected, actual = replay(path)
    if os.environ.get("PORCHLIGHT_TEST_UPDATE_GOLDEN") == "1":
        rewrite(path, actual)
        return
    assert actual == expected
