from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import (
    STEP_LIMIT,
    Effect,
    FlowState,
    Inbound,
    InboundKind,
    ReportAdditionSlot,
    ReportSlot,
    ResourceSlot,
    StepResult,
    divert,
    step,
)
from bot.keywords import OPT_OUT_WORDS
from bot.script import load_builtin_script, parse_script

SCRIPT = load_builtin_script("default")
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def start(at: datetime = T0) -> StepResult:
    return step(SCRIPT, FlowState(), Inbound(InboundKind.START, at))


def say(
    state: FlowState, text: str, kind: InboundKind = InboundKind.TEXT, at: datetime = T0
) -> StepResult:
    return step(SCRIPT, state, Inbound(kind, at, text))


def at_menu() -> FlowState:
    return say(start().state, "1").state


def texts(result: StepResult) -> list[str]:
    return [reply.text for reply in result.replies]


def test_the_first_exchange_says_how_to_leave_then_asks_about_safety() -> None:
    result = start()
    assert any("EXIT" in text for text in texts(result))
    assert texts(result)[-1] == "Is it safe for you to talk right now?"
    assert [o.value for o in result.replies[-1].options] == ["safe", "not_safe", "danger"]


def test_danger_goes_straight_to_emergency_numbers() -> None:
    result = say(start().state, "danger", InboundKind.CHOICE)
    assert "911" in texts(result)[0]
    assert result.state.results["risk"] == "high"


@pytest.mark.parametrize("answer", ["1", "Yes, I can talk", "  yes, i can talk ", "safe", "yeah"])
def test_sms_style_answers_choose_options(answer: str) -> None:
    result = say(start().state, answer)
    assert result.state.node == "menu"
    assert result.state.results["safety_check"] == "safe"


def test_an_unexpected_answer_repeats_the_question_instead_of_stalling() -> None:
    first = start()
    result = say(first.state, "banana")
    assert result.state.node == first.state.node
    assert texts(result)[0] == SCRIPT.message("not_understood", "en")
    assert result.replies[-1] == first.replies[-1]


def test_a_button_value_never_offered_is_not_understood() -> None:
    first = start()
    assert say(first.state, "1", InboundKind.CHOICE).state.node == "safety_check"


@pytest.mark.parametrize("word", ["EXIT", "exit", " Exit! ", "\uff25\uff38\uff29\uff34", "salir"])
def test_quick_exit_wipes_and_says_nothing_in_any_language(word: str) -> None:
    result = say(at_menu(), word)
    assert result.effects == {Effect.WIPE}
    assert result.replies == ()


@pytest.mark.parametrize("word", ["DELETE", "borrar"])
def test_delete_wipes_silently(word: str) -> None:
    assert say(at_menu(), word).effects == {Effect.WIPE}


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_carrier_opt_out_words_wipe_silently(word: str) -> None:
    result = say(start().state, word.lower())
    assert result.effects == {Effect.WIPE}
    assert result.replies == ()


def test_exit_inside_a_sentence_is_just_text() -> None:
    assert Effect.WIPE not in say(start().state, "how do I exit my lease").effects


@pytest.mark.parametrize("word", ["911", "SOS", "emergency", "Emergencia", "auxilio!"])
def test_emergency_keywords_work_from_anywhere(word: str) -> None:
    state = say(at_menu(), "support", InboundKind.CHOICE).state
    result = say(state, word)
    assert Effect.EMERGENCY in result.effects
    assert "911" in texts(result)[0]
    assert "emergency" in result.state.flags


def test_help_explains_and_asks_the_same_question_again() -> None:
    result = say(at_menu(), "help")
    assert texts(result)[0] == SCRIPT.message("help", "en")
    assert texts(result)[1] == "How can we help today?"
    assert result.state.node == "menu"


def test_switching_language_answers_in_that_language_from_then_on() -> None:
    result = say(at_menu(), "español")
    assert texts(result) == ["De acuerdo, escribiré en español.", "¿En qué te ayudamos?"]
    assert result.replies[-1].options[0].label == "Hablar"
    later = say(result.state, "2")
    assert later.state.language == "es"
    assert texts(later) == [
        "¿En qué zona estás? Basta con la ciudad o el barrio; no des tu dirección."
    ]
    back = say(later.state, "ENGLISH")
    assert texts(back)[0] == "OK, I'll write in English."


def test_a_spanish_label_typed_out_chooses_the_option() -> None:
    assert say(start().state, "Sí, puedo").state.node == "menu"


def test_the_duress_word_gives_an_innocuous_reply_and_freezes_the_conversation() -> None:
    result = say(at_menu(), "pizza")
    assert texts(result) == ["Thanks! Your order is confirmed."]
    assert Effect.DURESS in result.effects
    assert result.state.frozen
    assert "duress" in result.state.flags
    assert result.state.deadline is None

    again = say(result.state, "1")
    assert texts(again) == ["Thanks! Your order is confirmed."]
    assert again.state.node == "menu"
    # Safety keywords still work while frozen.
    assert say(again.state, "EXIT").effects == {Effect.WIPE}
    assert Effect.EMERGENCY in say(again.state, "911").effects


def test_free_text_answers_are_kept_and_routed_by_default() -> None:
    asked = say(at_menu(), "support", InboundKind.CHOICE)
    assert asked.replies[-1].options == ()
    answered = say(asked.state, "Northside")
    assert answered.state.results["area"] == "Northside"
    assert answered.state.node == "support_more"
    slots = [r.slot for r in answered.replies if r.slot is not None]
    assert slots == [ResourceSlot(("hotline", "shelter", "legal", "counselling"), "Northside")]


def test_an_emergency_asks_for_a_human_urgently() -> None:
    result = say(at_menu(), "SOS")
    assert Effect.HANDOFF in result.effects
    assert result.handoff_priority == "high"


def test_feedback_is_asked_on_the_web_but_not_by_sms() -> None:
    on_web = step(SCRIPT, at_menu(), Inbound(InboundKind.CHOICE, T0, "leave", "webchat"))
    assert texts(on_web) == ["Before you go: was this chat helpful?"]
    by_sms = step(SCRIPT, at_menu(), Inbound(InboundKind.CHOICE, T0, "leave", "sms"))
    assert texts(by_sms) == ["Take care. You can message again at any time."]
    assert by_sms.state.ended


def test_a_report_collects_its_answers_then_hands_them_over_and_forgets_them() -> None:
    state = say(at_menu(), "report", InboundKind.CHOICE).state
    for answer in ("1", "He took my keys", "last night", "Centro", "3", "2"):
        result = say(state, answer)
        state = result.state
    slots = [r.slot for r in result.replies if r.slot is not None]
    assert slots == [
        ReportSlot(
            {
                "what": "He took my keys",
                "when": "last night",
                "report_area": "Centro",
                "report_children": "not_said",
                "report_follow_up": "no",
            }
        )
    ]
    assert not {"what", "when", "report_area"} & set(state.results)


def test_a_typed_receipt_code_is_marked_secret_and_not_kept() -> None:
    state = say(say(at_menu(), "report", InboundKind.CHOICE).state, "2").state
    typed = say(state, "1234 5678 9012 3456")
    assert typed.secret_inbound
    added = say(typed.state, "one more thing")
    assert [r.slot for r in added.replies if r.slot] == [
        ReportAdditionSlot("1234 5678 9012 3456", "one more thing")
    ]
    assert "receipt" not in added.state.results


def test_talk_to_someone_hands_the_conversation_to_a_person() -> None:
    result = say(at_menu(), "talk", InboundKind.CHOICE)
    assert Effect.HANDOFF in result.effects
    assert result.handoff_priority == "normal"
    assert result.state.with_human
    assert any("EXIT" in text for text in texts(result))


def test_on_a_phone_the_person_is_asked_when_it_is_safe_to_write_first() -> None:
    asked = step(SCRIPT, at_menu(), Inbound(InboundKind.CHOICE, T0, "talk", channel="sms"))
    assert Effect.HANDOFF not in asked.effects
    assert asked.state.node == "safe_window"
    chosen = step(SCRIPT, asked.state, Inbound(InboundKind.TEXT, T0, "4", channel="sms"))
    assert chosen.state.results["safe_window"] == "17:00-22:00"
    assert Effect.HANDOFF in chosen.effects


def test_a_free_text_request_for_a_person_is_understood() -> None:
    result = say(at_menu(), "can I talk to a person please")
    assert result.state.node == "find_advocate"
    assert result.state.results["menu"] == "talk"


def test_while_with_a_person_the_bot_stays_quiet_and_relays() -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    for text in ("hello?", "HELP", "ESPAÑOL", "1"):
        relayed = say(waiting, text)
        assert relayed.effects == {Effect.RELAY}
        assert relayed.replies == ()
        assert relayed.state.with_human


@pytest.mark.parametrize("word", ["EXIT", "STOP", "DELETE"])
def test_leaving_words_still_wipe_while_with_a_person(word: str) -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    assert Effect.WIPE in say(waiting, word).effects


def test_emergency_while_with_a_person_gives_the_numbers_and_raises_priority() -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    result = say(waiting, "SOS")
    assert "911" in texts(result)[0]
    assert result.handoff_priority == "high"
    assert result.state.with_human


def test_duress_while_with_a_person_answers_innocently() -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    result = say(waiting, "pizza")
    assert Effect.DURESS in result.effects
    assert result.state.frozen
    assert "order" in texts(result)[0]


def test_after_hours_the_bot_speaks_again_with_the_24_7_line() -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    diverted = divert(SCRIPT, waiting, "after_hours", T0)
    assert not diverted.state.with_human
    assert any("24/7" in text for text in texts(diverted))
    report = say(diverted.state, "report", InboundKind.CHOICE)
    assert report.state.node == "report_start"


def test_timers_do_not_move_a_conversation_that_is_with_a_person() -> None:
    waiting = say(at_menu(), "talk", InboundKind.CHOICE).state
    woken = step(SCRIPT, waiting, Inbound(InboundKind.TIMER, T0 + timedelta(minutes=45)))
    assert woken.replies == ()
    assert woken.state.with_human


def test_ending_then_writing_again_starts_fresh() -> None:
    ended = say(at_menu(), "leave", InboundKind.CHOICE)
    assert Effect.END in ended.effects
    assert ended.state.ended
    again = say(ended.state, "hello")
    assert again.state.node == "safety_check"
    assert again.state.results == {}


# --- timers -------------------------------------------------------------------------------


def timer(state: FlowState, at: datetime) -> StepResult:
    return step(SCRIPT, state, Inbound(InboundKind.TIMER, at))


def test_an_unanswered_question_times_out_to_a_plain_check_in() -> None:
    waiting = start().state
    assert waiting.deadline == T0 + timedelta(minutes=30)
    assert waiting.next_timer() == waiting.deadline

    early = timer(waiting, T0 + timedelta(minutes=29))
    assert early.replies == ()
    assert early.state == waiting

    fired = timer(waiting, T0 + timedelta(minutes=30))
    assert texts(fired) == ["Reply any time."]
    assert fired.state.node == "check_in"


def test_a_long_silence_ends_without_a_word() -> None:
    check_in = timer(start().state, T0 + timedelta(minutes=30)).state
    quiet = timer(check_in, T0 + timedelta(minutes=50))
    assert quiet.replies == ()
    assert quiet.state.ended


def test_the_session_expires_after_an_hour_of_silence() -> None:
    state = say(at_menu(), "support", InboundKind.CHOICE).state
    assert state.expires_at == T0 + timedelta(minutes=60)
    expired = timer(state, T0 + timedelta(minutes=61))
    assert expired.effects == {Effect.EXPIRE}
    assert expired.replies == ()


def test_writing_after_the_session_expired_starts_fresh() -> None:
    state = say(at_menu(), "support", InboundKind.CHOICE).state
    later = say(state, "Northside", at=T0 + timedelta(hours=3))
    assert later.state.node == "safety_check"
    assert "area" not in later.state.results


def test_activity_pushes_expiry_back() -> None:
    state = say(at_menu(), "support", InboundKind.CHOICE, at=T0 + timedelta(minutes=50)).state
    assert state.expires_at == T0 + timedelta(minutes=110)


def test_state_survives_serialisation() -> None:
    state = say(say(at_menu(), "español").state, "pizza").state
    assert FlowState.from_dict(state.to_dict()) == state
    assert FlowState.from_dict({}) == FlowState()


# --- routing cases ------------------------------------------------------------------------

ROUTER = """\
schema: 1
name: router
start: ask
emergency: done
languages: {en: {name: English}, es: {name: Español}}
messages:
  not_understood: "?"
  help: "help"
  language_changed: "ok"
  duress_reply: "thanks"
nodes:
  ask:
    say: "How many?"
    wait:
      cases:
        - {test: number_between, min: 1, max: 5, next: few, category: few}
        - {test: number, next: many}
        - {test: any_word, words: {en: [dog, cat], es: [perro]}, next: pet}
        - {test: phrase, phrase: {en: "right now", es: "ahora mismo"}, next: urgent}
        - {test: regex, pattern: "^code-[0-9]{4}$", next: code}
      timeout: {minutes: 5, next: done}
  few: {say: "few", end: true}
  many: {say: "many", end: true}
  pet: {say: "pet", end: true}
  urgent: {say: "urgent", end: true}
  code: {say: "code", end: true}
  done: {say: "done", end: true}
"""


@pytest.mark.parametrize(
    ("answer", "node"),
    [
        ("3", "few"),
        ("2,5", "few"),
        ("12", "many"),
        ("my DOG ate it", "pet"),
        ("un perro", "pet"),
        ("I need help right now!", "urgent"),
        ("Ahora  mismo", "urgent"),
        ("CODE-1234", "code"),
        ("code-12345", None),
        ("dogs", None),
        ("²", "few"),  # NFKC reads a superscript two as 2
    ],
)
def test_case_tests_route_answers(answer: str, node: str | None) -> None:
    script = parse_script(ROUTER)
    asked = step(script, FlowState(), Inbound(InboundKind.START, T0)).state
    result = step(script, asked, Inbound(InboundKind.TEXT, T0, answer))
    assert result.state.node == (node or "ask")
    if node == "few":
        assert result.state.results["ask"] == "few"


# --- properties ---------------------------------------------------------------------------

inbound_events = st.builds(
    lambda kind, text, minutes: Inbound(kind, T0 + timedelta(minutes=minutes), text),
    kind=st.sampled_from(list(InboundKind)),
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            ["1", "2", "3", "4", "EXIT", "911", "safe", "talk", "", "\x00\x1b[2J", "pizza", "es"]
        ),
        st.builds(lambda char, n: char * n, st.characters(), st.integers(10_000, 10_240)),
    ),
    minutes=st.integers(0, 600),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(inbound_events, max_size=15))
def test_no_sequence_of_events_raises_or_leaves_the_person_stuck(events: list[Inbound]) -> None:
    state = FlowState()
    for event in sorted(events, key=lambda e: e.at):
        result = step(SCRIPT, state, event)
        assert len(result.replies) <= STEP_LIMIT * 3
        if event.kind is not InboundKind.TIMER and not {Effect.WIPE, Effect.RELAY} & set(
            result.effects
        ):
            assert result.replies, "every message from the person gets an answer"
        if not result.state.ended and result.state.node is not None:
            node = SCRIPT.node(result.state.node)
            if result.state.with_human:
                # An advocate answers (or, after hours, the service diverts the flow).
                assert node.handoff is not None or Effect.RELAY in result.effects
            else:
                assert node.wait is not None, "a live conversation always waits on a question"
            assert result.state.next_timer() is not None, "and it never waits forever"
        state = result.state
