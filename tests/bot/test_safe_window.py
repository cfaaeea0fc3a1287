from datetime import UTC, datetime

import pytest

from bot.safe_window import OutsideSafeWindow, check_safe_to_send, next_safe_moment

NIGHT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 02:00 UTC, 20:00 the evening before in Chicago


def at(hour: int, minute: int = 0) -> datetime:
    return NIGHT.replace(hour=hour, minute=minute)


@pytest.mark.parametrize("answer", [None, "any"])
def test_no_window_or_any_time_never_blocks(answer: str | None) -> None:
    results = {} if answer is None else {"safe_window": answer}
    check_safe_to_send(results, NIGHT, "UTC")
    assert next_safe_moment(results, NIGHT, "UTC") is None


def test_outside_the_window_the_reason_says_when_it_opens() -> None:
    with pytest.raises(OutsideSafeWindow, match=r"between 08:00-12:00 \(UTC\); it is 02:00"):
        check_safe_to_send({"safe_window": "08:00-12:00"}, NIGHT, "UTC")
    assert next_safe_moment({"safe_window": "08:00-12:00"}, NIGHT, "UTC") == at(8)
    check_safe_to_send({"safe_window": "08:00-12:00"}, at(8), "UTC")
    with pytest.raises(OutsideSafeWindow):
        check_safe_to_send({"safe_window": "08:00-12:00"}, at(12), "UTC")  # end is exclusive


def test_the_window_is_read_in_the_services_time_zone() -> None:
    # 02:00 UTC is 20:00 in Chicago: inside "evenings" there, outside it in UTC.
    check_safe_to_send({"safe_window": "17:00-22:00"}, NIGHT, "America/Chicago")
    with pytest.raises(OutsideSafeWindow):
        check_safe_to_send({"safe_window": "17:00-22:00"}, NIGHT, "UTC")


def test_a_window_may_run_past_midnight() -> None:
    check_safe_to_send({"safe_window": "22:00-06:00"}, NIGHT, "UTC")
    with pytest.raises(OutsideSafeWindow):
        check_safe_to_send({"safe_window": "22:00-06:00"}, at(7), "UTC")
    assert next_safe_moment({"safe_window": "22:00-06:00"}, at(7), "UTC") == at(22)


@pytest.mark.parametrize("garbled", ["evenings", "25:00-26:00", "17:00", ""])
def test_an_unreadable_window_blocks_rather_than_allows(garbled: str) -> None:
    with pytest.raises(OutsideSafeWindow, match="could not be read"):
        check_safe_to_send({"safe_window": garbled}, NIGHT, "UTC")
    moment = next_safe_moment({"safe_window": garbled}, NIGHT, "UTC")
    assert moment is not None
    assert moment > NIGHT
