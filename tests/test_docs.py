"""The documentation contract: every setting is documented, and nothing else is."""

import re
from dataclasses import fields
from pathlib import Path

from config import SETTING_NAMES, Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
NOT_SETTINGS = {"PORCHLIGHT_CONFIG", "PORCHLIGHT_TEST_DATABASE_URL"}


def test_every_setting_has_its_own_section() -> None:
    text = CONFIGURATION.read_text()
    headings = set(re.findall(r"^### `(PORCHLIGHT_[A-Z_]+)`$", text, flags=re.MULTILINE))
    missing = [name for name in SETTING_NAMES if name not in headings]
    assert missing == [], f"undocumented settings: {missing}"
    assert len(SETTING_NAMES) == len(fields(Settings))


def test_the_doc_mentions_no_setting_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"PORCHLIGHT_[A-Z_]*[A-Z]", CONFIGURATION.read_text()))
    assert mentioned - set(SETTING_NAMES) - NOT_SETTINGS == set()


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
