"""Row ids: random, unique, and made at the same moment they share a random prefix."""

import re
from itertools import pairwise

from storage.ids import IDS_PER_PREFIX, PREFIX_SECONDS, IdMaker, new_id, new_ids

HEX_ID = re.compile(r"[0-9a-f]{32}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def prefix(row_id: str) -> str:
    return row_id[:16]


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_id() for _ in range(20_000)] + new_ids(20_000)

    assert all(HEX_ID.fullmatch(row_id) for row_id in ids)
    assert len(set(ids)) == len(ids)


def test_ids_made_together_share_a_prefix_and_differ_after_it() -> None:
    maker = IdMaker(FakeClock())

    ids = [maker.new() for _ in range(10)] + maker.many(10)

    assert len({prefix(row_id) for row_id in ids}) == 1
    assert len({row_id[16:] for row_id in ids}) == len(ids)


def test_a_prefix_serves_a_bounded_number_of_ids() -> None:
    maker = IdMaker(FakeClock())

    ids = [maker.new() for _ in range(IDS_PER_PREFIX + 1)]

    assert prefix(ids[0]) == prefix(ids[IDS_PER_PREFIX - 1])
    assert prefix(ids[IDS_PER_PREFIX]) != prefix(ids[0])


def test_many_ids_at_once_never_straddle_two_prefixes() -> None:
    maker = IdMaker(FakeClock())
    maker.many(IDS_PER_PREFIX - 2)

    more = maker.many(5)  # does not fit what is left of the prefix: a fresh one for all
    huge = maker.many(IDS_PER_PREFIX * 3)

    assert len({prefix(row_id) for row_id in more}) == 1
    assert len({prefix(row_id) for row_id in huge}) == 1
    assert prefix(maker.new()) != prefix(huge[0])


def test_ids_made_a_while_apart_do_not_share_a_prefix() -> None:
    clock = FakeClock()
    maker = IdMaker(clock)
    first = maker.new()

    clock.now += PREFIX_SECONDS * 0.9
    soon_after = maker.new()
    clock.now += PREFIX_SECONDS
    later = maker.new()

    assert prefix(soon_after) == prefix(first)
    assert prefix(later) != prefix(first)


def test_prefixes_are_random_not_a_clock_or_a_counter() -> None:
    clock = FakeClock()
    maker = IdMaker(clock)
    prefixes = []
    for _ in range(50):
        prefixes.append(prefix(maker.new()))
        clock.now += PREFIX_SECONDS

    assert len(set(prefixes)) == len(prefixes)
    # In the order they were made, they are not in order: 50 random ones sorted by chance
    # is a 1 in 50! event. Nor do they count up from one another.
    assert prefixes != sorted(prefixes)
    numbers = [int(p, 16) for p in prefixes]
    assert len({later - earlier for earlier, later in pairwise(numbers)}) > 1
