"""The canned responses shipped with Porchlight, seeded into a new database once."""

from __future__ import annotations

from pathlib import Path

import yaml

SHIPPED = Path(__file__).with_name("canned.yaml")


def shipped_canned_responses() -> list[tuple[str, str, str]]:
    """(language, title, text) of each shipped example."""
    entries = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return [(str(e["language"]), str(e["title"]), str(e["body"])) for e in entries]
