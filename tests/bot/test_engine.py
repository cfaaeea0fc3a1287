import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import STEP_LIMIT, Effect, FlowState, Inbound, InboundKind, step
from bot.keywords import OPT_OUT_WORDS
from bot.script import load_builtin_script

SCRIPT = load_builtin_script("default")
ALARM_WORDS = ("abuse", "violence", "shelter", "domestic", "porchlight")


def start():
    return step(SCRIPT, FlowState(), Inbound(InboundKind.START))


def say(state: FlowState, text: str, kind: InboundKind = InboundKind.TEXT):
    return step(SCRIPT, state, Inbound(kind, text))


def test_the_first_exchange_is_neutral_says_how_to_leave_and_asks_about_safety() -> None:
    result = start()

    texts = [reply.text for reply in result.replies]
    assert any("EXIT" in text for text in texts), "quick-exit instructions in the first exchange"
    assert "safe" in texts[-1].lower()
    assert texts[-1].endswith("?")
    assert [o.value for o in result.replies[-1].options] == ["safe", "not_safe", "danger"]
    for text in texts:
        for word in ALARM_WORDS:
            assert word not in text.lower()


def test_danger_goes_straight_to_emergency_numbers() -> None:
    result = say(start().state, "danger", InboundKind.CHOICE)
    assert "911" in result.replies[0].text


@pytest.mark.parametrize("answer", ["1", "Yes, I can talk", "  yes, i can talk ", "safe"])
def test_sms_style_answers_choose_options(answer: str) -> None:
    result = say(start().state, answer)
    assert result.state.node == "menu"
    assert result.state.answers["safety_check"] == "safe"


def test_an_unexpected_answer_repeats_the_question_instead_of_stalling() -> None:
    first = start()
    result = say(first.state, "banana")
    assert result.state == first.state
    assert result.replies[0].text == SCRIPT.not_understood
    assert result.replies[-1].options == first.replies[-1].options


def test_a_button_value_never_offered_is_not_understood() -> None:
    first = start()
    result = say(first.state, "1", InboundKind.CHOICE)
    assert result.state == first.state


@pytest.mark.parametrize("word", ["EXIT", "exit", " Exit! ", "\uff25\uff38\uff29\uff34"])
def test_quick_exit_wipes_and_says_nothing(word: str) -> None:
    result = say(say(start().state, "1").state, word)
    assert result.effects == {Effect.WIPE}
    assert result.replies == ()


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_carrier_opt_out_words_wipe_silently(word: str) -> None:
    result = say(start().state, word.lower())
    assert result.effects == {Effect.WIPE}
    assert result.replies == ()


def test_exit_inside_a_sentence_is_just_text() -> None:
    result = say(start().state, "how do I exit my lease")
    assert Effect.WIPE not in result.effects


@pytest.mark.parametrize("word", ["911", "SOS", "emergency"])
def test_emergency_keywords_work_from_anywhere(word: str) -> None:
    state = say(say(start().state, "1").state, "support", InboundKind.CHOICE).state
    result = say(state, word)
    assert Effect.EMERGENCY in result.effects
    assert "911" in result.replies[0].text


def test_free_text_answers_are_kept_in_the_state() -> None:
    menu = say(start().state, "1").state
    asked = say(menu, "support", InboundKind.CHOICE)
    assert asked.replies[-1].options == ()
    answered = say(asked.state, "Northside")
    assert answered.state.answers["area"] == "Northside"
    assert answered.state.node == "support_list"


def test_talk_to_someone_is_honest_when_nobody_is_available() -> None:
    menu = say(start().state, "1").state
    result = say(menu, "talk", InboundKind.CHOICE)
    assert Effect.HANDOFF in result.effects
    assert any("24/7" in r.text for r in result.replies)


def test_ending_then_writing_again_starts_fresh() -> None:
    menu = say(start().state, "1").state
    ended = say(menu, "leave", InboundKind.CHOICE)
    assert Effect.END in ended.effects
    assert ended.state.ended
    again = say(ended.state, "hello")
    assert again.state.node == "safety_check"
    assert again.state.answers == {}


def test_state_survives_serialisation() -> None:
    state = say(say(start().state, "1").state, "support", InboundKind.CHOICE).state
    assert FlowState.from_dict(state.to_dict()) == state
    assert FlowState.from_dict({}) == FlowState()


inbound_events = st.builds(
    Inbound,
    kind=st.sampled_from(list(InboundKind)),
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(["1", "2", "3", "4", "EXIT", "911", "safe", "talk", "", "\x00\x1b[2J"]),
        st.builds(lambda char, n: char * n, st.characters(), st.integers(10_000, 10_240)),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(inbound_events, max_size=15))
def test_any_sequence_of_inbound_never_raises_and_always_leaves_a_way_forward(events) -> None:
    state = FlowState()
    for event in events:
        result = step(SCRIPT, state, event)
        assert len(result.replies) <= STEP_LIMIT * 3
        if Effect.WIPE not in result.effects:
            assert result.replies, "every non-exit turn answers"
            if not result.state.ended:
                assert result.state.node is not None
                node = SCRIPT.node(result.state.node)
                assert node.waits, "a live conversation always waits on a question"
        state = result.state
