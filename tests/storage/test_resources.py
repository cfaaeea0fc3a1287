"""The directory store: one set of rules for every entry, and imports that are all or nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.directory import Resource, load_demo_directory
from storage.engine import SessionFactory
from storage.resources import InvalidResource, ResourceStore, UnknownResource

SHELTER = Resource(
    name="Westbrook Women's Refuge",
    category="shelter",
    areas=("Westbrook",),
    languages=("en",),
    phone="+1 555 0199",
    hours="24/7",
)


@pytest.fixture
def store(sessions: SessionFactory) -> ResourceStore:
    return ResourceStore(sessions)


async def test_a_failed_import_leaves_the_old_directory_whole(store: ResourceStore) -> None:
    await store.add_all(load_demo_directory())
    before = await store.list_entries()
    bad = replace(SHELTER, name="Spa", category="spa")

    with pytest.raises(InvalidResource) as refused:
        await store.replace_all([SHELTER, bad])

    assert refused.value.field == "category"
    assert await store.list_entries() == before


async def test_an_import_replaces_everything(store: ResourceStore) -> None:
    await store.add_all(load_demo_directory())

    assert await store.replace_all([SHELTER]) == 1

    assert await store.all() == [SHELTER]


async def test_entries_are_kept_tidy(store: ResourceStore) -> None:
    messy = Resource(
        name="  Westbrook Women's Refuge ",
        category="shelter",
        areas=(" Westbrook", "", "Westbrook"),
        languages=("EN", " "),
        phone=" +1 555 0199 ",
        hours="24/7 ",
    )

    added = await store.add(messy)

    assert added.entry == SHELTER
    assert (await store.get(added.id)).entry == SHELTER


async def test_a_removed_entry_is_gone_for_every_change(store: ResourceStore) -> None:
    added = await store.add(SHELTER)

    assert await store.remove(added.id) == SHELTER

    with pytest.raises(UnknownResource):
        await store.get(added.id)
    with pytest.raises(UnknownResource):
        await store.update(added.id, SHELTER)
    with pytest.raises(UnknownResource):
        await store.remove(added.id)


async def test_the_demo_directory_never_replaces_an_admins(store: ResourceStore) -> None:
    await store.replace_all([SHELTER])

    assert not await store.seed_if_empty(load_demo_directory())

    assert await store.all() == [SHELTER]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "name is required"),
        ({"name": "Refuge\nline two"}, "name", "name must be one line of printable text"),
        (
            {"category": "spa"},
            "category",
            "category 'spa' is not one of hotline, shelter, legal, counselling",
        ),
        ({"areas": ()}, "areas", "areas is required ('*' serves everywhere)"),
        ({"areas": ("West, brook",)}, "areas", "area 'West, brook' contains ',' or ';'"),
        (
            {"languages": ("english",)},
            "languages",
            "language 'english' is not a code such as 'en' or 'pt-BR'",
        ),
        ({"phone": ""}, "phone", "phone is required"),
        (
            {"phone": "+-()"},
            "phone",
            "phone '+-()' is not a number: use digits, spaces, '+', '-', '(' and ')' only",
        ),
        ({"phone": "1" * 41}, "phone", "phone is longer than 40 characters"),
        ({"hours": "h" * 101}, "hours", "hours is longer than 100 characters"),
    ],
)
async def test_each_rule_names_its_field(
    store: ResourceStore, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidResource) as refused:
        await store.add(replace(SHELTER, **change))

    assert (refused.value.field, str(refused.value)) == (field, message)
    assert await store.all() == []
