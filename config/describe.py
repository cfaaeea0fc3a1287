"""Show the effective settings, secrets redacted: what ``porchlight check-config`` prints."""

from __future__ import annotations

from dataclasses import fields

from config.settings import Secret, Settings, env_name, redact_url


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """(PORCHLIGHT_NAME, display value) for every setting, in declaration order."""
    rows = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is None:
            shown = "(not set)"
        elif isinstance(value, Secret):
            shown = "******** (set)"
        elif f.name == "database_url":
            shown = redact_url(value)
        elif isinstance(value, tuple):
            shown = ", ".join(value) or "(none)"
        else:
            shown = str(value)
        rows.append((env_name(f.name), shown))
    return rows


def format_settings(settings: Settings) -> str:
    """Aligned ``NAME  value`` lines."""
    rows = describe_settings(settings)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
