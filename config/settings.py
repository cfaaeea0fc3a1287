"""The one Settings object: frozen, typed, validated at load, passed down from ``main``.

Validation and defaults live in :mod:`config.loader`, because three defaults (the database
URL, the public URL and the absolute data directory) depend on other settings or on the
working directory at load time. Build Settings with ``load_settings`` (tests: the
``make_settings`` factory), never by hand, so nothing unvalidated reaches the service.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

REDACTED = "********"


class Secret:
    """A secret string that never shows itself in a repr, a log line or an error.

    Settings are printed by ``check-config``, logged by mistake and shown in tracebacks; a
    plain ``str`` would put tokens and keys in all of those. Call ``reveal()`` only at the
    point of use.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret itself: call it where the secret is used, never where printed."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Immutability blocks the default slot-by-slot copy that deepcopy and asdict use.
        return (Secret, (self._value,))

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: code may compare a received webhook token against a configured one.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Every setting of the service, each documented in docs/configuration.md.

    Frozen so that nothing can change a setting after it was validated; the repr hides
    secrets and the database password because settings end up in logs and tracebacks.
    """

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
    report_retention_days: int | None
    quick_exit_url: str
    log_level: str
    totp_required_roles: tuple[str, ...]
    timezone: str
    handoff_offer_seconds: int
    handoff_escalate_minutes: int
    handoff_after_hours_minutes: int
    advocate_max_conversations: int
    script_approval: bool

    def __repr__(self) -> str:
        parts = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "database_url":
                value = redact_url(value)
            parts.append(f"{field.name}={value!r}")
        return f"Settings({', '.join(parts)})"


def redact_url(url: str) -> str:
    """The URL as it may be displayed: passwords (userinfo or query) replaced by ``***``.

    SQLAlchemy parses the URL because it is the parser the engine uses, so whatever it takes
    to be the password is exactly what gets hidden. asyncpg also reads ``?password=``.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"  # echoing it could echo a password
    hidden = {key: "***" for key in parsed.query if "password" in key.lower()}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    # The renderer percent-encodes the query; show the placeholder as people expect it.
    return parsed.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")


def env_name(field_name: str) -> str:
    """Return the environment name of a field (``port`` -> ``PORCHLIGHT_PORT``).

    Errors name settings this way whatever source they came from, so an operator can search
    the docs and their deployment for one name.
    """
    return f"PORCHLIGHT_{field_name.upper()}"


SETTING_NAMES: tuple[str, ...] = tuple(env_name(field.name) for field in fields(Settings))
