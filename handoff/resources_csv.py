"""The resource directory as a CSV file, for administrators to edit in a spreadsheet.

This lives in ``handoff/`` beside the routes, not in ``storage/``: a CSV file is how people
exchange the directory, not how it is kept, and the store should know entries, not files.
What makes an entry valid is still the store's (:func:`storage.resources.resource_problems`),
so an imported row obeys exactly the rules of one added on the dashboard.

The format: the header ``name,category,areas,languages,phone,hours``, then one entry a
line; several areas or languages in one cell are separated by ``;``. Imports are all or
nothing, so the error names every bad line at once rather than one per attempt.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (CSV
injection), so an exported cell that starts like that, or with the apostrophe used to
escape it, gets a leading apostrophe, which imports strip again: export then import gives
back exactly the same directory. Phone numbers such as ``+1 555 0101`` get one too: they
call no function, but a spreadsheet would read ``-555-0101`` as a sum and save ``-656``;
with the apostrophe it keeps them as text, exactly as written, and shows no apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from bot.directory import Resource
from storage.resources import normalise, resource_problems

HEADER = ("name", "category", "areas", "languages", "phone", "hours")
LIST_SEPARATOR = ";"
MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Enough to fix a file by; a file that is wrong everywhere need not be listed in full.
MAX_PROBLEMS_LISTED = 50
CONTENT_TYPE = "text/csv"

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"


class CsvRejected(ValueError):
    """An import refused as a whole; ``problems`` says every reason, bad lines by number."""

    def __init__(self, problems: Sequence[str]) -> None:
        listed = list(problems[:MAX_PROBLEMS_LISTED])
        if len(problems) > MAX_PROBLEMS_LISTED:
            listed.append(f"… and {len(problems) - MAX_PROBLEMS_LISTED} more")
        super().__init__("\n".join(listed))
        self.problems = tuple(problems)


def _escape(cell: str) -> str:
    return _ESCAPE + cell if cell.startswith((*_FORMULA_STARTS, _ESCAPE)) else cell


def _unescape(cell: str) -> str:
    """Undo :func:`_escape`; an apostrophe a person typed before other text is kept."""
    if cell.startswith(_ESCAPE) and cell[1:].startswith((*_FORMULA_STARTS, _ESCAPE)):
        return cell[1:]
    return cell


def export_csv(entries: Iterable[Resource]) -> str:
    """The directory as CSV text, with CRLF line ends as RFC 4180 and spreadsheets expect."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for entry in entries:
        writer.writerow(
            [
                _escape(entry.name),
                _escape(entry.category),
                _escape(LIST_SEPARATOR.join(entry.areas)),
                _escape(LIST_SEPARATOR.join(entry.languages)),
                _escape(entry.phone),
                _escape(entry.hours),
            ]
        )
    return out.getvalue()


def parse_csv(data: bytes) -> list[Resource]:
    """Every entry of an import, checked; :class:`CsvRejected` lists all that is wrong."""
    if len(data) > MAX_BYTES:
        raise CsvRejected([f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB"])
    try:
        # utf-8-sig: spreadsheets' "CSV UTF-8" starts with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRejected(
            ["the file is not UTF-8 text (in a spreadsheet, save it as 'CSV UTF-8')"]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    entries: list[Resource] = []
    rows = 0
    try:
        header = next(reader, None)
        if header is None or [cell.strip().lower() for cell in header] != list(HEADER):
            raise CsvRejected([f"line 1: the first line must be the header {','.join(HEADER)}"])
        starts_at = reader.line_num + 1
        for row in reader:
            line, starts_at = starts_at, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            if rows > MAX_ROWS:
                raise CsvRejected([f"the file has more than {MAX_ROWS} entries"])
            if len(row) != len(HEADER):
                problems.append(
                    f"line {line}: expected {len(HEADER)} cells ({','.join(HEADER)}), "
                    f"found {len(row)}"
                )
                continue
            entry = _entry([_unescape(cell) for cell in row])
            wrong = resource_problems(entry)
            problems += [f"line {line}: {problem}" for problem in wrong]
            if not wrong:
                entries.append(entry)
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    if problems:
        raise CsvRejected(problems)
    if not entries:
        raise CsvRejected(["the file has no entries; the directory was left as it was"])
    return entries


def _entry(cells: list[str]) -> Resource:
    name, category, areas, languages, phone, hours = cells
    return normalise(
        Resource(
            name=name,
            category=category,
            areas=tuple(areas.split(LIST_SEPARATOR)),
            languages=tuple(languages.split(LIST_SEPARATOR)),
            phone=phone,
            hours=hours,
        )
    )
