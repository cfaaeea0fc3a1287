import pytest

from bot.script import ScriptError, builtin_script_names, load_builtin_script, parse_script

VALID = """\
schema: 1
name: tiny
start: ask
emergency: help
languages:
  en: {name: English, keywords: [ENGLISH]}
  es: {name: Español}
messages:
  not_understood: {en: "Sorry?", es: "¿Perdón?"}
  help: {en: "Help.", es: "Ayuda."}
  language_changed: {en: "OK.", es: "Vale."}
  duress_reply: {en: "Thanks!", es: "¡Gracias!"}
nodes:
  ask:
    say: {en: "Is it safe to talk?", es: "¿Puedes hablar?"}
    wait:
      options:
        - {label: {en: "Yes", es: "Sí"}, value: yes, next: bye}
      timeout: {minutes: 10, next: bye}
  help:
    say: "Call 911."
    next: bye
  bye:
    say: "Bye."
    end: true
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        parse_script(text, source="tiny.yaml")
    assert str(caught.value).startswith("tiny.yaml: ")
    return caught.value.problems


def test_a_valid_script_loads() -> None:
    script = parse_script(VALID)
    assert script.languages == ("en", "es")
    wait = script.node("ask").wait
    assert wait is not None
    assert wait.options[0].next == "bye"
    assert script.node("help").say[0].render("es", "en") == "Call 911."  # falls back


def test_the_shipped_scripts_load() -> None:
    assert "default" in builtin_script_names()
    for name in builtin_script_names():
        assert load_builtin_script(name).name == name


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("next: bye\n  bye:", "next: nowhere\n  bye:"),
            "line 20: node 'help' leads to missing node 'nowhere'",
        ),
        (('    say: "Bye."\n', '    sayy: "Bye."\n'), "line 23: node 'bye' has unknown key 'sayy'"),
        (("    end: true\n", ""), "line 23: node 'bye' needs exactly one of 'wait', 'next', 'end'"),
        (("schema: 1", "schema: 7"), "line 1: 'schema' must be 1"),
        (("start: ask", "start: asks"), "'start' must name a node"),
        (('label: {en: "Yes", es: "Sí"}, ', ""), "each option of 'ask' needs label, value, next"),
        (("minutes: 10", "minutes: 0"), "timeout of 'ask' needs 'minutes' from 1 to 1440"),
        (('{en: "Help.", es: "Ayuda."}', '{es: "Ayuda."}'), "message 'help' has no 'en' text"),
        (
            ('{en: "Help.", es: "Ayuda."}', '{en: "Help.", fr: "Aide."}'),
            "undeclared languages ['fr']",
        ),
        (
            ('  duress_reply: {en: "Thanks!", es: "¡Gracias!"}\n', ""),
            "message 'duress_reply' is missing",
        ),
    ],
)
def test_problems_are_reported_with_their_line(change: tuple[str, str], expected: str) -> None:
    broken = VALID.replace(*change)
    assert broken != VALID
    problems = problems_of(broken)
    assert any(expected in problem for problem in problems), problems


def test_unreachable_nodes_and_silent_loops_are_refused() -> None:
    problems = " ".join(
        problems_of(
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
    )
    assert "node 'orphan' is unreachable" in problems
    assert "loop without waiting" in problems


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("{test: guess, next: bye}", "'test' must be one of"),
        ("{test: regex, pattern: '(unclosed', next: bye}", "not a valid regular expression"),
        ("{test: number_between, min: 9, max: 1, next: bye}", "'min' must not be larger"),
        ("{test: any_word, words: {fr: [oui]}, next: bye}", "undeclared language 'fr'"),
    ],
)
def test_bad_routing_cases_are_explained(case: str, problem: str) -> None:
    broken = VALID.replace(
        "      timeout: {minutes: 10",
        f"      cases:\n        - {case}\n      timeout: {{minutes: 10",
    )
    assert any(problem in p for p in problems_of(broken))


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ScriptError, match=r"line \d: not valid YAML"):
        parse_script("schema: 1\nname: x\nnodes: [unclosed\n")


def test_yes_and_no_stay_words_not_booleans() -> None:
    script = parse_script(VALID.replace("value: yes", "value: no"))
    wait = script.node("ask").wait
    assert wait is not None
    assert wait.options[0].value == "no"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ScriptError, match="a script is a mapping"):
        parse_script("- just a list")


def test_unknown_builtin_names_are_refused_without_touching_the_filesystem() -> None:
    with pytest.raises(ScriptError, match="no shipped script"):
        load_builtin_script("nonexistent")
    with pytest.raises(ScriptError, match="letters, digits"):
        load_builtin_script("../../etc/passwd")


HANDING_OFF = VALID.replace(
    '  help:\n    say: "Call 911."\n    next: bye\n',
    '  help:\n    say: "Call 911."\n    handoff: high\n',
)
HANDOFF_MESSAGES = """\
  queue_position: {en: "Number {position}, about {minutes} min.", es: "{position} {minutes}"}
  advocate_joined: {en: "Someone is here.", es: "Hay alguien."}
  advocate_left: {en: "Goodbye.", es: "Adiós."}
"""


def with_messages(text: str, extra: str = HANDOFF_MESSAGES) -> str:
    return text.replace("nodes:\n", extra + "nodes:\n", 1)


def test_a_script_that_hands_off_needs_an_after_hours_node() -> None:
    problems = problems_of(with_messages(HANDING_OFF))
    assert any("'after_hours' must name the node" in p for p in problems)
    script = parse_script(
        with_messages(HANDING_OFF).replace("start: ask", "start: ask\nafter_hours: bye")
    )
    assert script.after_hours == "bye"


def test_a_handoff_node_has_no_way_on_of_its_own() -> None:
    text = with_messages(HANDING_OFF.replace("handoff: high\n", "handoff: high\n    next: bye\n"))
    problems = problems_of(text.replace("start: ask", "start: ask\nafter_hours: bye"))
    assert any("hands off to a person" in p for p in problems)


def test_a_script_that_hands_off_needs_the_queue_messages_with_their_placeholders() -> None:
    text = HANDING_OFF.replace("start: ask", "start: ask\nafter_hours: bye")
    assert any("needs the message 'queue_position'" in p for p in problems_of(text))
    broken = with_messages(text, HANDOFF_MESSAGES.replace(" {minutes}", ""))
    assert any("{position} and {minutes}" in p for p in problems_of(broken))


def test_after_hours_must_not_hand_off_again() -> None:
    text = with_messages(HANDING_OFF).replace("start: ask", "start: ask\nafter_hours: help")
    assert any("must not hand off again" in p for p in problems_of(text))
