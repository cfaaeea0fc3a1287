"""The rota: who is expected on call, and that offers go to them first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff.rota import expected_on_call, format_time, parse_time
from storage.engine import SessionFactory
from storage.rota import InvalidShift, Override, RotaStore, Shift
from storage.users import UserStore
from tests.handoff.conftest import Rig

# Wednesday 25 November 2026, 02:00 UTC.
WEDNESDAY_2AM = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
NIGHTS = Shift("night", weekday=1, start=22 * 60, end=6 * 60)  # Tuesday 22:00 to Wednesday 06:00
DAYS = Shift("day", weekday=2, start=9 * 60, end=17 * 60)  # Wednesday 09:00 to 17:00


def test_a_night_shift_runs_past_midnight() -> None:
    assert expected_on_call([NIGHTS, DAYS], [], WEDNESDAY_2AM, "UTC") == {"night"}
    assert expected_on_call([NIGHTS, DAYS], [], WEDNESDAY_2AM.replace(hour=10), "UTC") == {"day"}
    assert expected_on_call([NIGHTS, DAYS], [], WEDNESDAY_2AM.replace(hour=7), "UTC") == set()


def test_shifts_are_read_in_the_services_time_zone() -> None:
    # 02:00 UTC on Wednesday is 20:00 on Tuesday in Chicago: before the night shift there.
    assert expected_on_call([NIGHTS], [], WEDNESDAY_2AM, "America/Chicago") == set()
    assert expected_on_call(
        [NIGHTS], [], WEDNESDAY_2AM + timedelta(hours=3), "America/Chicago"
    ) == {"night"}


def test_overrides_put_someone_on_or_take_them_off() -> None:
    sick = Override(
        "o1",
        "night",
        WEDNESDAY_2AM - timedelta(hours=5),
        WEDNESDAY_2AM + timedelta(hours=5),
        on_call=False,
    )
    cover = Override(
        "o2",
        "cover",
        WEDNESDAY_2AM - timedelta(hours=5),
        WEDNESDAY_2AM + timedelta(hours=5),
        on_call=True,
    )
    assert expected_on_call([NIGHTS], [sick, cover], WEDNESDAY_2AM, "UTC") == {"cover"}
    later = WEDNESDAY_2AM + timedelta(days=6, hours=22)  # next Tuesday night: sick leave over
    assert expected_on_call([NIGHTS], [sick, cover], later, "UTC") == {"night"}


@pytest.mark.parametrize("text", ["09:0", "25:00", "12:60", "noon", "24:01"])
def test_times_must_be_hh_mm(text: str) -> None:
    with pytest.raises(InvalidShift):
        parse_time(text)


def test_times_round_trip() -> None:
    assert format_time(parse_time("07:45")) == "07:45"
    assert parse_time("24:00") == 24 * 60


async def test_the_store_refuses_a_bad_shift_and_keeps_the_old_ones(
    sessions: SessionFactory, user_store: UserStore
) -> None:
    ana = await user_store.add_user(username="ana", role="advocate", password="p" * 12)
    rota = RotaStore(sessions)
    good = Shift(ana.id, 0, 9 * 60, 17 * 60)
    await rota.set_weekly(ana.id, [good])
    with pytest.raises(InvalidShift, match="weekday"):
        await rota.set_weekly(ana.id, [good, Shift(ana.id, 7, 0, 60)])
    with pytest.raises(InvalidShift, match="same time"):
        await rota.set_weekly(ana.id, [Shift(ana.id, 1, 60, 60)])
    assert await rota.shifts() == [good]
    with pytest.raises(InvalidShift, match="end after it starts"):
        await rota.add_override(ana.id, WEDNESDAY_2AM, WEDNESDAY_2AM, on_call=True)
    assert await rota.overrides() == []


async def test_offers_go_first_to_whoever_the_rota_expects(rig: Rig) -> None:
    off_rota = await rig.advocate("aaron")  # first by name: would be offered first otherwise
    on_rota = await rig.advocate("zoe")
    await rig.rota.set_weekly(on_rota.id, [Shift(on_rota.id, 2, 0, 6 * 60)])  # Wednesday 00-06
    handoff_id = await rig.ask_for_a_person()
    await rig.service.tick()
    assert (await rig.handoffs.get(handoff_id)).offered_to == on_rota.id
    assert off_rota.id != on_rota.id
