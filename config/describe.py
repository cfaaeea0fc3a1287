"""Show the effective settings, secrets redacted: what ``porchlight check-config`` prints.

Operators paste this output into tickets and chat when asking for help, so it must be safe
to share as it is: secrets say only whether they are set, database passwords are hidden.
"""

from __future__ import annotations

from dataclasses import fields

from config.settings import REDACTED, Secret, Settings, env_name, redact_url


def describe_settings(settings: Settings) -> list[tuple[str, str]]:
    """List every setting as ``(PORCHLIGHT_NAME, display value)``, in declaration order.

    Environment names rather than field names, so the output can be matched against
    docs/configuration.md and the deployment's environment.
    """
    rows = []
    for field in fields(settings):
        value = getattr(settings, field.name)
        if value is None:
            shown = "(not set)"
        elif isinstance(value, Secret):
            shown = f"{REDACTED} (set)"
        elif field.name == "database_url":
            shown = redact_url(value)
        elif isinstance(value, bool):
            shown = "true" if value else "false"  # as the setting is written
        elif isinstance(value, tuple):
            shown = ",".join(value) or "(none)"
        else:
            shown = str(value)
        rows.append((env_name(field.name), shown))
    return rows


def format_settings(settings: Settings) -> str:
    """Render the settings as aligned ``NAME  value`` lines for a terminal."""
    rows = describe_settings(settings)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
