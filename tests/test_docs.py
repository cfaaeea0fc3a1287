"""The documentation contract: every setting is documented, and nothing else is."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from config import Settings, describe_settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
NOT_SETTINGS = {"PORCHLIGHT_CONFIG", "PORCHLIGHT_TEST_DATABASE_URL"}
# Defaults that depend on other settings or on the working directory; the doc describes them
# with placeholders (<DATA_DIR>, <HOST>) instead of a literal value.
DERIVED_DEFAULTS = {"PORCHLIGHT_DATA_DIR", "PORCHLIGHT_DATABASE_URL", "PORCHLIGHT_PUBLIC_URL"}
# Straight from the dataclass, not from config's own list, so a new field cannot hide.
SETTINGS = [f"PORCHLIGHT_{field.name.upper()}" for field in fields(Settings)]


def sections() -> dict[str, str]:
    """Map each setting's heading in the doc to the text up to the next heading."""
    # "##" and deeper only: a "# comment" inside a code block is not a heading.
    parts = re.split(r"^(##+ .*)$", CONFIGURATION.read_text(), flags=re.MULTILINE)
    found: dict[str, str] = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        match = re.fullmatch(r"### `(PORCHLIGHT_[A-Z_]+)`", heading)
        if match:
            found[match.group(1)] = body
    return found


def test_every_setting_has_its_own_section() -> None:
    missing = [name for name in SETTINGS if name not in sections()]
    assert missing == [], f"undocumented settings: {missing}"


def test_the_sections_follow_the_order_of_the_settings() -> None:
    assert [name for name in sections() if name in SETTINGS] == SETTINGS


def test_the_doc_mentions_no_setting_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"PORCHLIGHT_[A-Z_]+", CONFIGURATION.read_text()))
    assert mentioned - set(SETTINGS) - NOT_SETTINGS == set()


@pytest.mark.parametrize("name", SETTINGS)
def test_each_section_states_the_default_the_code_uses(tmp_path: Path, name: str) -> None:
    shown = dict(describe_settings(load_settings(env={"PORCHLIGHT_DATA_DIR": str(tmp_path)})))
    body = sections().get(name, "")
    if name in DERIVED_DEFAULTS:
        assert "Default: " in body
    elif shown[name] == "(not set)":
        assert "Default: not set." in body
    else:
        assert f"Default: `{shown[name]}`" in body


def test_every_doc_the_readme_links_to_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / target).exists(), target


def test_every_lint_rule_case_test_and_keyword_kind_is_documented() -> None:
    from bot.cases import CASE_TESTS
    from bot.lint import RULES
    from bot.script import KEYWORD_KINDS, OPTIONAL_MESSAGES, REQUIRED_MESSAGES

    text = (ROOT / "docs" / "scripts.md").read_text()
    for name in (*RULES, *CASE_TESTS, *REQUIRED_MESSAGES, *OPTIONAL_MESSAGES):
        assert f"`{name}`" in text or f"{name}:" in text, name
    for kind in KEYWORD_KINDS:
        assert f"{kind}:" in text, kind
