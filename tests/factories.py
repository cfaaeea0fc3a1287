"""Build objects for tests the way production builds them, so validation always runs."""

from __future__ import annotations

from pathlib import Path

from config import Secret, Settings, load_settings


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings through load_settings, from DATA_DIR plus overrides by lower-case field name."""
    env = {"PORCHLIGHT_DATA_DIR": str(data_dir)}
    for name, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, Secret):
            value = value.reveal()
        elif isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        env[f"PORCHLIGHT_{name.upper()}"] = str(value)
    return load_settings(env=env)
