import pytest

from bot.lint import lint_script
from bot.script import (
    builtin_script_names,
    builtin_script_source,
    load_builtin_script,
    parse_script,
)
from bot.sms import segments

GOOD = """\
schema: 1
name: linted
start: hello
emergency: danger
languages:
  en: {name: English}
  es: {name: Español}
keywords:
  quick_exit: {en: [EXIT], es: [SALIR]}
  help: {en: [HELP], es: [AYUDA]}
messages:
  not_understood: {en: "Sorry?", es: "¿Perdón?"}
  help: {en: "Reply with a number.", es: "Responde con un número."}
  language_changed: {en: "OK.", es: "Vale."}
  duress_reply: {en: "Thanks!", es: "¡Gracias!"}
nodes:
  hello:
    say: {en: "Hi. Type EXIT to leave.", es: "Hola. Escribe SALIR para irte."}
    next: ask
  ask:
    say: {en: "Can you talk?", es: "¿Puedes hablar?"}
    wait:
      options:
        - {label: {en: "Yes", es: "Sí"}, value: yes, next: bye}
      timeout: {minutes: 10, next: later}
  later:
    say: {en: "Reply any time.", es: "Responde cuando quieras."}
    next: bye
  danger:
    say: {en: "Call 911.", es: "Llama al 911."}
    next: bye
  bye:
    say: {en: "Bye.", es: "Adiós."}
    end: true
"""


def rules(text: str, **kwargs: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in lint_script(parse_script(text), **kwargs):  # type: ignore[arg-type]
        found.setdefault(problem.rule, []).append(str(problem))
    return found


def test_every_reported_rule_is_a_documented_one() -> None:
    from bot.lint import RULES

    broken = GOOD.replace("Hi. Type EXIT", "Abuse line").replace(
        "help: {en: [HELP]", "help: {en: [STOP]"
    )
    assert {p.rule for p in lint_script(parse_script(broken))} <= set(RULES)


def test_a_careful_script_passes() -> None:
    assert rules(GOOD) == {}


@pytest.mark.parametrize("name", builtin_script_names())
def test_every_shipped_script_passes_the_lint(name: str) -> None:
    assert lint_script(load_builtin_script(name)) == []


def test_a_wait_without_a_timeout_is_refused() -> None:
    later_node = '  later:\n    say: {en: "Reply any time.", es: "Responde cuando quieras."}\n'
    without_timeout = GOOD.replace("      timeout: {minutes: 10, next: later}\n", "")
    found = rules(without_timeout.replace(later_node + "    next: bye\n", ""))
    assert found["timeout"] == [
        "line 20: [timeout] node 'ask' waits forever: give its 'wait' a timeout"
    ]


def test_the_first_exchange_must_say_how_to_leave_in_every_language() -> None:
    found = rules(GOOD.replace("Hola. Escribe SALIR para irte.", "Hola."))
    assert len(found["quick-exit"]) == 1
    assert "'es'" in found["quick-exit"][0]
    assert "SALIR" in found["quick-exit"][0]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("Hi. Type EXIT", "Hi, this is the Abuse line. Type EXIT"), "first exchange"),
        (("Responde cuando quieras.", "Sobre la violencia: responde."), "after a timeout"),
        (('duress_reply: {en: "Thanks!"', 'duress_reply: {en: "Shelter update!"'), "duress reply"),
    ],
)
def test_alarm_words_are_refused_where_someone_else_may_read_first(
    change: tuple[str, str], where: str
) -> None:
    found = rules(GOOD.replace(*change))
    assert len(found["alarm-word"]) == 1
    assert where in found["alarm-word"][0]


def test_alarm_words_elsewhere_are_allowed_and_the_list_is_configurable() -> None:
    later = GOOD.replace(
        'say: {en: "Call 911."', 'say: {en: "Violence is never your fault. Call 911."'
    )
    assert "alarm-word" not in rules(later)
    named = GOOD.replace("Hi. Type EXIT", "Hi from Harbour House. Type EXIT")
    assert "alarm-word" not in rules(named)
    assert "alarm-word" in rules(named, alarm_words=["Harbour House"])
    assert "alarm-word" in rules(
        named.replace("name: linted", "name: linted\nalarm_words: [harbour house]")
    )


def test_long_sms_messages_need_a_reason() -> None:
    long_text = "Please read this carefully. " * 7
    found = rules(GOOD.replace('say: {en: "Call 911."', f'say: {{en: "{long_text}"'))
    assert "node 'danger' in 'en' needs 2 SMS segments" in found["sms-segment"][0]
    reasoned = GOOD.replace(
        '    say: {en: "Call 911."',
        f'    long_sms_reason: "safety advice"\n    say: {{en: "{long_text}"',
    )
    assert "sms-segment" not in rules(reasoned)


def test_sms_segments_follow_the_gsm_and_ucs2_limits() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("ó" * 70) == 1  # one accent outside GSM-7 switches to 70 per segment
    assert segments("ó" * 71) == 2
    assert segments("€" * 80) == 1  # GSM extension characters count twice
    assert segments("€" * 81) == 2


def test_every_text_must_exist_in_every_language() -> None:
    found = rules(GOOD.replace('say: {en: "Bye.", es: "Adiós."}', 'say: {en: "Bye."}'))
    assert found["language"] == ["line 33: [language] node 'bye' has no text in es"]


@pytest.mark.parametrize("word", ["STOP", "cancel", "Quit"])
def test_carrier_opt_out_words_cannot_be_script_keywords(word: str) -> None:
    found = rules(GOOD.replace("help: {en: [HELP]", f"help: {{en: [HELP, {word}]"))
    assert "carrier opt-out word" in found["opt-out"][0]


def test_an_option_that_is_also_a_keyword_is_refused() -> None:
    found = rules(GOOD.replace('{en: "Yes", es: "Sí"}', '{en: "Help", es: "Sí"}'))
    assert "option 'Help' of 'ask' is also a keyword" in found["keyword"][0]
    found = rules(GOOD.replace('{en: "Yes", es: "Sí"}', '{en: "End", es: "Sí"}'))
    assert "option 'End' of 'ask' is also a keyword" in found["keyword"][0]


def test_one_word_cannot_be_two_keywords() -> None:
    found = rules(GOOD.replace("help: {en: [HELP]", "help: {en: [EXIT]"))
    assert "'EXIT' is both a quick_exit and a help keyword" in found["keyword"][0]


def test_the_emergency_and_after_hours_answers_must_give_a_number_in_every_language() -> None:
    source = builtin_script_source("default")
    # The Spanish after-hours answer loses its numbers: people writing in Spanish at night
    # would be left with nothing to call.
    broken = source.replace(
        'es: "Llama a la línea 24h: 555-0100 (demo). En una emergencia, llama al 911."',
        'es: "Vuelve a escribirnos más tarde."',
    )
    assert broken != source
    problems = lint_script(parse_script(broken))
    assert [(p.rule, p.message) for p in problems] == [
        (
            "numbers",
            "the after-hours answer ('after_hours') in 'es' gives no number to call: "
            "people with nobody to talk to need one",
        )
    ]
