import pytest

from bot.script import ScriptError, load_builtin_script, parse_script

VALID = """\
schema: 1
name: tiny
start: ask
emergency: help
not_understood: "Sorry?"
nodes:
  ask:
    say: "Is it safe to talk?"
    options:
      - {label: "Yes", value: yes, next: bye}
  help:
    say: "Call 911."
    next: bye
  bye:
    say: "Bye."
    end: true
"""


def test_a_valid_script_loads() -> None:
    script = parse_script(VALID)
    assert script.start == "ask"
    assert script.node("ask").options[0].next == "bye"


def test_the_shipped_script_loads() -> None:
    assert load_builtin_script("default").name == "default"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("next: bye\n  bye:", "next: nowhere\n  bye:"),
            "line 12: node 'help' leads to missing node 'nowhere'",
        ),
        (('    say: "Bye."\n', '    sayy: "Bye."\n'), "line 15: node 'bye' has unknown key 'sayy'"),
        (("    end: true\n", ""), "line 15: node 'bye' leads nowhere"),
        (("schema: 1", "schema: 7"), "line 1: 'schema' must be 1"),
        (("start: ask", "start: asks"), "'start' must name a node"),
        (('label: "Yes", ', ""), "each option of 'ask' needs 'label', 'value' and 'next'"),
    ],
)
def test_problems_are_reported_with_their_line(change: tuple[str, str], expected: str) -> None:
    broken = VALID.replace(*change)
    assert broken != VALID
    with pytest.raises(ScriptError) as caught:
        parse_script(broken, source="tiny.yaml")
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith("tiny.yaml: ")


def test_unreachable_nodes_and_silent_loops_are_refused() -> None:
    broken = (
        VALID
        + """\
  orphan:
    say: "Nobody gets here."
    next: loop
  loop:
    say: "Round and round."
    next: orphan
"""
    )
    with pytest.raises(ScriptError) as caught:
        parse_script(broken)
    text = " ".join(caught.value.problems)
    assert "node 'orphan' is unreachable" in text
    assert "loop without waiting" in text


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ScriptError, match=r"line \d: not valid YAML"):
        parse_script("schema: 1\nname: x\nnodes: [unclosed\n")


def test_yes_and_no_stay_words_not_booleans() -> None:
    script = parse_script(VALID.replace("value: yes", "value: no"))
    assert script.node("ask").options[0].value == "no"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ScriptError, match="a script is a mapping"):
        parse_script("- just a list")


def test_unknown_builtin_names_are_refused_without_touching_the_filesystem() -> None:
    with pytest.raises(ScriptError, match="no shipped script"):
        load_builtin_script("nonexistent")
    with pytest.raises(ScriptError, match="letters, digits"):
        load_builtin_script("../../etc/passwd")
