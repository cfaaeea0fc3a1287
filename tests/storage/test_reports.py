from pathlib import Path

import pytest

from crypto import KeyRing, ReceiptHasher
from storage.engine import sqlite_files
from storage.reports import MAX_ADDITIONS, ReportStore

FIELDS = {"what": "canary-kiwi-5150 he took my keys", "when": "last night"}


def test_receipt_codes_are_16_digits_that_read_like_a_number() -> None:
    codes = {ReceiptHasher.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 16
        assert code.isdigit()
        assert code[0] != "0"
    assert ReceiptHasher.display("1234567890123456") == "1234 5678 9012 3456"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1234 5678 9012 3456", "1234567890123456"),
        ("1234-5678-9012-3456", "1234567890123456"),
        ("123456789012345", None),
        ("12345678901234567", None),
        ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", None),  # only ASCII digits
        ("1" * 16 + " " * 100, None),
    ],
)
def test_typed_codes_are_normalised(typed: str, expected: str | None) -> None:
    assert ReceiptHasher.normalise(typed) == expected


def test_the_digest_is_keyed(insecure_receipt_hasher: ReceiptHasher) -> None:
    other = ReceiptHasher(KeyRing.generate(), time_cost=1, memory_cost=8)
    code = "1234567890123456"
    assert insecure_receipt_hasher.digest(code) == insecure_receipt_hasher.digest(code)
    assert insecure_receipt_hasher.digest(code) != other.digest(code)
    assert code not in insecure_receipt_hasher.digest(code)


async def test_a_report_can_be_added_to_with_its_code_and_read_by_advocates(
    report_store: ReportStore,
) -> None:
    code = await report_store.submit("sms", FIELDS)
    assert await report_store.add_to(ReceiptHasher.display(code), "he came back today")

    (report_id,) = await report_store.ids()
    report = await report_store.get(report_id)
    assert report is not None
    assert report.fields == FIELDS
    assert report.additions == ("he came back today",)
    assert report.channel == "sms"


@pytest.mark.parametrize("typed", ["1111222233334444", "not a code", ""])
async def test_unknown_codes_change_nothing(report_store: ReportStore, typed: str) -> None:
    code = await report_store.submit("webchat", FIELDS)
    assert not await report_store.add_to(typed, "should not land anywhere")
    (report_id,) = await report_store.ids()
    report = await report_store.get(report_id)
    assert report is not None
    assert report.additions == ()
    assert code != typed


async def test_additions_are_capped(report_store: ReportStore) -> None:
    code = await report_store.submit("webchat", FIELDS)
    for _ in range(MAX_ADDITIONS):
        assert await report_store.add_to(code, "more")
    assert not await report_store.add_to(code, "one too many")


async def test_neither_the_code_nor_the_content_is_stored_readably(
    report_store: ReportStore, settings, tmp_path: Path
) -> None:
    code = await report_store.submit("webchat", FIELDS)
    await report_store.add_to(code, "canary-addition-7070")
    for path in sqlite_files(settings.database_url):
        raw = path.read_bytes()
        for canary in (
            code,
            ReceiptHasher.display(code),
            "canary-kiwi-5150",
            "canary-addition-7070",
        ):
            assert canary.encode() not in raw, (path, canary)
