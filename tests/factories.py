"""Build objects for tests the way production builds them, so validation always runs."""

from __future__ import annotations

from pathlib import Path

from config import Secret, Settings, load_settings

# Set per test when the whole suite runs on PostgreSQL (tests/conftest.py): the database
# every test's settings point at unless the test names its own.
test_database_url: str | None = None


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings through ``load_settings``, so a test cannot hold settings production refuses.

    Args:
        data_dir: the test's own DATA_DIR (and so its own default SQLite database).
        **overrides: lower-case field names; values are written the way an operator would
            write them in the environment (tuples comma-joined, secrets revealed). None
            leaves the setting at its default. A misspelt name fails like a misspelt
            variable would, with a suggestion.
    """
    env = {"PORCHLIGHT_DATA_DIR": str(data_dir)}
    if test_database_url is not None:
        env["PORCHLIGHT_DATABASE_URL"] = test_database_url
    for name, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, Secret):
            text = value.reveal()
        elif isinstance(value, tuple | list):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        env[f"PORCHLIGHT_{name.upper()}"] = text
    return load_settings(env=env)
