"""The one Settings object: frozen, typed, validated at load, passed down from ``main``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from sqlalchemy.engine import make_url


class Secret:
    """A secret string that never shows itself in a repr, a log line or an error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call only where it is used, never where it is printed."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the service; documented one by one in docs/configuration.md."""

    data_dir: Path
    database_url: str
    host: str
    port: int
    public_url: str
    master_key: Secret | None
    twilio_account_sid: str | None
    twilio_auth_token: Secret | None
    twilio_from: str | None
    twilio_api_base: str
    telegram_token: Secret | None
    telegram_secret_token: Secret | None
    telegram_api_base: str
    retention_days: int
    quick_exit_url: str
    log_level: str
    totp_required_roles: tuple[str, ...]

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database_url":
                value = redact_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for display."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as a placeholder, never echoed
        return "<unparseable URL>"


def env_name(field_name: str) -> str:
    """``port`` -> ``PORCHLIGHT_PORT``."""
    return f"PORCHLIGHT_{field_name.upper()}"


SETTING_NAMES: tuple[str, ...] = tuple(env_name(f.name) for f in fields(Settings))
