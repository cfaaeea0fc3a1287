"""The resource directory as administrators and advocates meet it (issue #6), over HTTP.

Administrators add, change, remove, export and import entries; what they add is what a
person asking for support is offered; advocates can read but not change; a bad import
changes nothing and says which lines are wrong; exports are safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from bot.directory import CATEGORIES, Resource, load_demo_directory
from config import Settings
from handoff.resources_csv import HEADER, CsvRejected, export_csv, parse_csv
from porchlight.state import SERVICES
from tests.factories import make_settings
from tests.handoff.conftest import Dashboard, SignIn
from tests.handoff.test_webchat_handoff import WS, frames_until

WESTBROOK = {
    "name": "Westbrook Women's Refuge",
    "category": "shelter",
    "areas": ["Westbrook"],
    "languages": ["en", "pl"],
    "phone": "+1 555 0199",
    "hours": "24/7",
}


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # Two-factor has its own tests (test_auth.py); here admins sign in with a password only.
    return make_settings(data_dir, totp_required_roles=())


async def support_offered(client: TestClient[Any, Any], area: str) -> list[str]:
    """What a person on the web chat is offered after asking for support in ``area``."""
    async with client.ws_connect(WS) as socket:
        await socket.send_json({"type": "start"})
        await frames_until(socket, "options")
        await socket.send_json({"type": "choice", "value": "safe"})
        await frames_until(socket, "options")
        await socket.send_json({"type": "choice", "value": "support"})
        await frames_until(socket, "message")
        await socket.send_json({"type": "message", "text": area})
        frames = await frames_until(socket, "options")
    return [frame["text"] for frame in frames if frame.get("type") == "message"]


async def put_csv(
    dashboard: Dashboard, data: bytes, content_type: str = "text/csv"
) -> tuple[int, Any]:
    response = await dashboard.http.put(
        "/api/v1/resources.csv",
        data=io.BytesIO(data),
        headers={"X-CSRF-Token": dashboard.csrf, "Content-Type": content_type},
    )
    return response.status, await response.json()


async def get_csv(dashboard: Dashboard) -> tuple[web.StreamResponse | Any, bytes]:
    response = await dashboard.http.get("/api/v1/resources.csv")
    assert response.status == 200
    return response, await response.read()


async def listing(dashboard: Dashboard) -> list[dict[str, Any]]:
    status, entries = await dashboard.call("GET", "/resources")
    assert status == 200
    return list(entries)


def without_ids(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "id"} for entry in entries]


async def audited(admin: Dashboard, action: str) -> list[tuple[str | None, str | None]]:
    status, entries = await admin.call("GET", f"/audit?action={action}")
    assert status == 200
    return [(entry["target"], entry["detail"]) for entry in entries]


async def test_an_entry_an_admin_adds_is_offered_to_a_person_asking_for_support(
    client: TestClient[Any, Any], sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    before = await support_offered(client, "Westbrook")
    assert "Westbrook Women's Refuge: +1 555 0199 (24/7)" not in before

    status, added = await admin.call("POST", "/resources", WESTBROOK)

    assert status == 201
    assert added == {"id": added["id"], **WESTBROOK}
    offered = await support_offered(client, "I'm in Westbrook")
    assert offered[1] == "Westbrook Women's Refuge: +1 555 0199 (24/7)"
    assert await audited(admin, "resource_added") == [(added["id"], "Westbrook Women's Refuge")]


async def test_a_changed_entry_is_offered_as_changed_and_a_removed_one_no_longer(
    client: TestClient[Any, Any], sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    _, added = await admin.call("POST", "/resources", WESTBROOK)
    path = f"/resources/{added['id']}"

    status, changed = await admin.call("PUT", path, {**WESTBROOK, "hours": "Mon-Fri 9-5"})
    assert status == 200
    assert changed["hours"] == "Mon-Fri 9-5"
    assert "Westbrook Women's Refuge: +1 555 0199 (Mon-Fri 9-5)" in await support_offered(
        client, "Westbrook"
    )

    assert (await admin.call("DELETE", path))[0] == 204
    offered = await support_offered(client, "Westbrook")
    assert not any("Westbrook Women's Refuge" in line for line in offered)
    assert (await admin.call("DELETE", path))[0] == 404
    assert (await admin.call("PUT", path, WESTBROOK))[0] == 404
    assert await audited(admin, "resource_changed") == [(added["id"], "Westbrook Women's Refuge")]
    assert await audited(admin, "resource_removed") == [(added["id"], "Westbrook Women's Refuge")]


async def test_an_advocate_can_read_the_directory_but_change_nothing(
    sign_in: SignIn, app: web.Application
) -> None:
    advocate = await sign_in("ana")
    before = await listing(advocate)
    some_id = before[0]["id"]
    exported = (await get_csv(advocate))[1]

    attempts = [
        await advocate.call("POST", "/resources", WESTBROOK),
        await advocate.call("PUT", f"/resources/{some_id}", WESTBROOK),
        await advocate.call("DELETE", f"/resources/{some_id}"),
        await put_csv(advocate, exported),
    ]

    assert [status for status, _ in attempts] == [403] * 4
    assert all(body["error"] == "forbidden" for _, body in attempts)
    assert await listing(advocate) == before
    audited = [entry.action for entry in await app[SERVICES].audit.entries()]
    assert not [action for action in audited if action.startswith("resource")]


async def test_signed_out_nobody_reads_the_directory(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/resources")).status == 401
    assert (await client.get("/api/v1/resources.csv")).status == 401


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"category": "spa"}, "category"),
        ({"areas": []}, "areas"),
        ({"areas": "Westbrook"}, "areas"),
        ({"languages": ["english"]}, "language"),
        ({"phone": "call 555 0199"}, "phone"),
        ({"phone": "5" * 41}, "phone"),
        ({"hours": "h" * 101}, "hours"),
    ],
)
async def test_an_invalid_entry_is_refused_naming_the_field(
    sign_in: SignIn, change: dict[str, Any], named: str
) -> None:
    admin = await sign_in("maria", role="admin")
    before = await listing(admin)

    status, body = await admin.call("POST", "/resources", {**WESTBROOK, **change})

    assert status == 400
    assert body["error"] == "invalid"
    assert body["message"].startswith(named), body
    assert await listing(admin) == before


async def test_a_bad_csv_changes_nothing_and_names_every_bad_line(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    before = await listing(admin)
    bad = (
        b"name,category,areas,languages,phone,hours\r\n"
        b"Good Line,hotline,*,en,555-0111,24/7\r\n"
        b"Spa Retreat,spa,Westbrook,en,555-0112,24/7\r\n"
        b"\r\n"
        b"No Number,legal,Westbrook,en,,Mon-Fri\r\n"
        b"Too Short,legal\r\n"
    )

    status, body = await put_csv(admin, bad)

    assert status == 400
    assert body["error"] == "invalid_csv"
    assert body["message"].splitlines() == [
        "line 3: category 'spa' is not one of hotline, shelter, legal, counselling",
        "line 5: phone is required",
        "line 6: expected 6 cells (name,category,areas,languages,phone,hours), found 2",
    ]
    assert await listing(admin) == before
    assert await audited(admin, "resources_imported") == []


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            "name,category,areas,languages,phone,hours\nLínea,hotline,*,es,555,24/7\n".encode(
                "latin-1"
            ),
            "not UTF-8",
        ),
        (b"Harbour,hotline,*,en,555-0101,24/7\r\n", "header"),
        (b"", "header"),
        (b"name,category,areas,languages,phone,hours\r\n", "no entries"),
        (
            b"name,category,areas,languages,phone,hours\r\n"
            + b"Line,hotline,*,en,555-0101,24/7\r\n" * 5001,
            "more than 5000",
        ),
    ],
)
async def test_an_unusable_file_is_refused_whole(sign_in: SignIn, data: bytes, says: str) -> None:
    admin = await sign_in("maria", role="admin")
    before = await listing(admin)

    status, body = await put_csv(admin, data)

    assert status == 400
    assert says in body["message"]
    assert await listing(admin) == before


async def test_a_file_over_one_megabyte_or_not_csv_is_refused(sign_in: SignIn) -> None:
    admin = await sign_in("maria", role="admin")
    before = await listing(admin)
    row = b"A name long enough to fill a megabyte quickly,hotline,*,en,555-0101,24/7\r\n"
    huge = b"name,category,areas,languages,phone,hours\r\n" + row * (1024 * 1024 // len(row) + 1)

    assert (await put_csv(admin, huge))[0] == 413
    good = (await get_csv(admin))[1]
    assert (await put_csv(admin, good, content_type="application/json"))[0] == 415
    assert await listing(admin) == before


async def test_an_import_replaces_the_directory_and_people_are_offered_the_new_one(
    client: TestClient[Any, Any], sign_in: SignIn
) -> None:
    admin = await sign_in("maria", role="admin")
    data = (
        b"name,category,areas,languages,phone,hours\n"
        b"Westbrook Women's Refuge,shelter,Westbrook;Eastbrook,en;pl,+1 555 0199,24/7\n"
        b"National Line,hotline,*,en,0800 555 0100,24/7\n"
    )

    status, body = await put_csv(admin, data)

    assert (status, body) == (200, {"imported": 2})
    assert [entry["name"] for entry in await listing(admin)] == [
        "National Line",
        "Westbrook Women's Refuge",
    ]
    offered = await support_offered(client, "Eastbrook")
    assert offered[1:3] == [
        "Westbrook Women's Refuge: +1 555 0199 (24/7)",
        "National Line: 0800 555 0100 (24/7)",
    ]
    assert not any("(demo)" in line for line in offered)
    before = len(load_demo_directory())  # the demo entries the import replaced
    assert await audited(admin, "resources_imported") == [(None, f"2 entries, replacing {before}")]


async def test_export_then_import_gives_back_exactly_the_same_directory(
    sign_in: SignIn,
) -> None:
    admin = await sign_in("maria", role="admin")
    tricky = [
        {**WESTBROOK, "name": '=HYPERLINK("http://evil.example","Click")'},
        {**WESTBROOK, "name": '\'Tis Haven, "the" place', "phone": "(555) 0123"},
        {**WESTBROOK, "name": "@Home", "hours": "-", "areas": ["-North", "Søndre Nordstrand"]},
        {**WESTBROOK, "name": "'=already escaped?", "languages": []},
    ]
    for entry in tricky:
        assert (await admin.call("POST", "/resources", entry))[0] == 201
    before = await listing(admin)
    response, exported = await get_csv(admin)
    assert response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="resources.csv"'

    status, body = await put_csv(admin, exported)

    assert (status, body) == (200, {"imported": len(before)})
    assert without_ids(await listing(admin)) == without_ids(before)
    assert (await get_csv(admin))[1] == exported


async def test_exported_cells_never_start_a_formula_nor_turn_phone_numbers_into_sums(
    sign_in: SignIn,
) -> None:
    admin = await sign_in("maria", role="admin")
    await admin.call("POST", "/resources", {**WESTBROOK, "name": "=cmd|' /C calc'!A0"})
    await admin.call("POST", "/resources", {**WESTBROOK, "name": "+SUM(1)", "hours": "@now"})

    rows = list(csv.reader(io.StringIO((await get_csv(admin))[1].decode())))

    assert rows[0] == list(HEADER)
    for row in rows[1:]:
        assert not row[0].startswith(("=", "+", "-", "@"))
        assert not row[5].startswith(("=", "+", "-", "@"))
    cells = {row[0]: row for row in rows[1:]}
    # As text, or a spreadsheet computes "+1 555 0199" and "-555-0101" as numbers.
    assert cells["'=cmd|' /C calc'!A0"][4] == "'+1 555 0199"
    assert cells["'+SUM(1)"][5] == "'@now"


# -- the CSV format on its own ---------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S"), include_characters=" "),
    min_size=1,
).filter(lambda s: s.strip() == s and s.isprintable())
_AREA = _TEXT.filter(lambda s: "," not in s and ";" not in s and len(s) <= 100)
_ENTRY = st.builds(
    Resource,
    name=_TEXT.filter(lambda s: len(s) <= 200),
    category=st.sampled_from(CATEGORIES),
    areas=st.lists(_AREA, min_size=1, max_size=4, unique=True).map(tuple),
    languages=st.lists(st.sampled_from(["en", "es", "pl", "pt-BR", "fil"]), unique=True).map(tuple),
    phone=st.from_regex(r"[+(]?[0-9][0-9 ()\-]{0,30}", fullmatch=True).map(str.strip),
    hours=_TEXT.filter(lambda s: len(s) <= 100),
)


@given(st.lists(_ENTRY, min_size=1, max_size=5))
def test_any_valid_directory_survives_export_and_import(entries: list[Resource]) -> None:
    assert parse_csv(export_csv(entries).encode()) == entries


def test_an_apostrophe_a_person_typed_is_kept() -> None:
    data = b"name,category,areas,languages,phone,hours\n'Tis Haven,hotline,*,en,555-0101,24/7\n"
    (entry,) = parse_csv(data)
    assert entry.name == "'Tis Haven"


def test_a_spreadsheets_byte_order_mark_is_accepted() -> None:
    data = "\ufeffname,category,areas,languages,phone,hours\nA,hotline,*,en,555,24/7\n"
    assert [e.name for e in parse_csv(data.encode())] == ["A"]


def test_every_bad_field_of_a_line_is_named() -> None:
    data = b"name,category,areas,languages,phone,hours\n,spa,,english,555-0101,24/7\n"
    with pytest.raises(CsvRejected) as rejected:
        parse_csv(data)
    assert [problem.split(" ")[:2] for problem in rejected.value.problems] == [
        ["line", "2:"],
    ] * 4
    assert [problem.split(" ")[2] for problem in rejected.value.problems] == [
        "name",
        "category",
        "areas",
        "language",
    ]


async def test_a_directory_emptied_by_an_admin_stays_empty_after_a_restart(
    client: TestClient[Any, Any],
    app: web.Application,
    settings: Settings,
    make_app: Any,
    aiohttp_client: Any,
) -> None:
    store = app[SERVICES].resources
    for entry in await store.list_entries():
        await store.remove(entry.id)
    restarted = make_app(settings)
    await aiohttp_client(restarted)  # its start-up runs against the same database
    assert await restarted[SERVICES].resources.list_entries() == []
