import pytest

from bot.directory import DirectoryError, load_demo_directory, match_resources, parse_entry
from storage.resources import ResourceStore

DIRECTORY = load_demo_directory()
ALL = ("hotline", "shelter", "legal", "counselling")


def names(area: str, categories: tuple[str, ...] = ALL, language: str = "en") -> list[str]:
    found = match_resources(DIRECTORY, area=area, categories=categories, language=language)
    return [r.name for r in found]


def test_every_demo_entry_is_clearly_fictional() -> None:
    for entry in DIRECTORY:
        assert "(demo)" in entry.name
        assert entry.phone.startswith("555-01")


def test_local_places_come_first_then_ones_that_serve_everywhere() -> None:
    assert names("north side? I'm in Northside") == [
        "Northside Safe House (demo)",
        "Riverside Legal Advice Clinic (demo)",
        "Harbour Support Line (demo)",
    ]


def test_an_unknown_area_still_gets_the_24_7_line() -> None:
    assert names("somewhere else") == ["Harbour Support Line (demo)"]


def test_the_persons_language_is_preferred_and_categories_filter() -> None:
    legal_first = ("legal", "shelter")
    assert names("Northside", legal_first, "en")[0] == "Riverside Legal Advice Clinic (demo)"
    assert names("Northside", legal_first, "es")[0] == "Northside Safe House (demo)"
    assert names("Centro", categories=("legal",)) == ["Eastgate Family Legal Aid (demo)"]


def test_an_area_must_match_whole_words() -> None:
    assert "Northside Safe House (demo)" not in names("Northsidetown")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"name": "X", "category": "spa", "areas": ["*"], "phone": "1", "hours": "h"}, "category"),
        ({"name": "X", "category": "legal", "phone": "1", "hours": "h"}, "missing areas"),
        ("just text", "mapping"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(raw: object, problem: str) -> None:
    with pytest.raises(DirectoryError, match=problem):
        parse_entry(raw, "entry 1")


async def test_the_store_keeps_entries_and_seeds_only_an_empty_directory(
    sessions,
) -> None:
    store = ResourceStore(sessions)
    assert await store.seed_if_empty(DIRECTORY)
    assert not await store.seed_if_empty(DIRECTORY[:1])
    assert sorted(await store.all(), key=lambda r: r.name) == sorted(
        DIRECTORY, key=lambda r: r.name
    )
