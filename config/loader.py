"""Load Settings from defaults, a TOML file and ``PORCHLIGHT_*`` environment variables.

Later sources win: defaults < TOML file < environment. Every problem raises ConfigError
naming the setting as its environment variable, so an operator knows what to fix whichever
source they used. Unknown names are errors, not warnings: a typo must not silently leave a
safety setting (quick exit, retention, two-factor roles) at its default. Secret values are
never echoed in an error, because errors end up in terminals, logs and support tickets.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar, get_args, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.errors import ConfigError
from config.settings import SETTING_NAMES, Secret, Settings, env_name

CONFIG_ENV = "PORCHLIGHT_CONFIG"
# The test suite's own variables (PORCHLIGHT_TEST_DATABASE_URL) share the prefix; they are
# not settings, and refusing them would make the suite unable to load settings at all.
IGNORED_ENV_PREFIXES = ("PORCHLIGHT_TEST_",)
ENV_PREFIX = "PORCHLIGHT_"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ROLES = ("admin", "advocate")
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
MASTER_KEY_BYTES = 32

_FIELD_NAMES = tuple(field.name for field in fields(Settings))
# Settings that may be absent: an empty value for these means "not set".
_OPTIONAL = frozenset(
    name
    for name, hint in get_type_hints(Settings).items()
    if isinstance(hint, types.UnionType) and type(None) in get_args(hint)
)

_TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{30,}")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

T = TypeVar("T")
D = TypeVar("D")


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build validated Settings; the only way the service gets its configuration.

    Args:
        env: the environment to read; ``os.environ`` when None. Tests pass a dict so the
            developer's own environment cannot leak in.
        config_file: a TOML file; when None, ``PORCHLIGHT_CONFIG`` in ``env`` may name one.

    Returns:
        Frozen, fully validated settings.

    Raises:
        ConfigError: naming the first setting that is unknown, missing or invalid.
    """
    env = os.environ if env is None else env
    if config_file is None and env.get(CONFIG_ENV, "").strip():
        config_file = Path(env[CONFIG_ENV].strip())
    given: dict[str, _Given] = {}
    if config_file is not None:
        given.update(_read_toml(config_file))
    given.update(_read_env(env))
    return _build(given)


@dataclass(frozen=True, slots=True)
class _Given:
    """A raw value and where it came from, so an error can point at the right place."""

    value: object
    origin: Path | None  # the TOML file, or None for the environment

    def where(self) -> str:
        return f" (in {self.origin})" if self.origin is not None else ""


class _Invalid(Exception):
    """A parser's complaint; the loader adds the setting's name and the value's source."""


def _read_toml(path: Path) -> dict[str, _Given]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(CONFIG_ENV, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(CONFIG_ENV, f"{path} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries the line and column; it never quotes the value itself.
        raise ConfigError(CONFIG_ENV, f"{path} is not valid TOML: {exc}") from None
    unknown = [key for key in document if key not in _FIELD_NAMES]
    if unknown:
        described = ", ".join(f"{key!r}{_suggest_field(key)}" for key in unknown)
        raise ConfigError(CONFIG_ENV, f"{path} has unknown settings: {described}")
    return {key: _Given(value, path) for key, value in document.items()}


def _suggest_field(key: str) -> str:
    # People copy names from the environment into the file: PORCHLIGHT_PORT or PORT -> port.
    normal = key.lower().removeprefix(ENV_PREFIX.lower())
    if normal in _FIELD_NAMES:
        return f" (did you mean {normal}?)"
    close = difflib.get_close_matches(normal, _FIELD_NAMES, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _read_env(env: Mapping[str, str]) -> dict[str, _Given]:
    given: dict[str, _Given] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        if name.startswith(IGNORED_ENV_PREFIXES):
            continue
        if name not in SETTING_NAMES:
            raise ConfigError(name, f"is not a Porchlight setting{_suggest_env(name)}")
        given[name.removeprefix(ENV_PREFIX).lower()] = _Given(env[name], None)
    return given


def _suggest_env(name: str) -> str:
    # Compare without the shared prefix, which would make every name look alike.
    suffixes = [setting.removeprefix(ENV_PREFIX) for setting in SETTING_NAMES]
    close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
    if close:
        return f" (did you mean {ENV_PREFIX}{close[0]}?)"
    return " (see docs/configuration.md; the test suite's variables start with PORCHLIGHT_TEST_)"


def _build(given: Mapping[str, _Given]) -> Settings:
    def get(name: str, parse: Callable[[object], T], default: D) -> T | D:
        raw = given.get(name)
        if raw is None:
            return default
        value = raw.value.strip() if isinstance(raw.value, str) else raw.value
        if value == "" and name in _OPTIONAL:
            return default
        if value == "" and name != "totp_required_roles":  # "" there means "no roles"
            raise ConfigError(
                env_name(name), f"is set but empty{raw.where()}: remove it to use the default"
            )
        try:
            return parse(value)
        except _Invalid as exc:
            raise ConfigError(env_name(name), f"{exc}{raw.where()}") from None

    data_dir = get("data_dir", _directory, Path("data").absolute())
    host = get("host", _host, "127.0.0.1")
    port = get("port", _int_between(1, 65535), 8080)
    url_host = f"[{host}]" if ":" in host else host  # an IPv6 address needs brackets
    settings = Settings(
        data_dir=data_dir,
        database_url=get(
            "database_url", _database_url, f"sqlite+aiosqlite:///{data_dir}/porchlight.db"
        ),
        host=host,
        port=port,
        public_url=get("public_url", _http_url(exact=True), f"http://{url_host}:{port}"),
        master_key=get("master_key", _master_key, None),
        twilio_account_sid=get("twilio_account_sid", _twilio_account_sid, None),
        twilio_auth_token=get("twilio_auth_token", _secret, None),
        twilio_from=get("twilio_from", _twilio_from, None),
        twilio_api_base=get("twilio_api_base", _http_url(exact=True), "https://api.twilio.com"),
        telegram_token=get("telegram_token", _telegram_token, None),
        telegram_secret_token=get("telegram_secret_token", _telegram_secret, None),
        telegram_api_base=get(
            "telegram_api_base", _http_url(exact=True), "https://api.telegram.org"
        ),
        retention_days=get("retention_days", _int_between(1, 3650), 90),
        report_retention_days=get("report_retention_days", _int_between(1, 3650), None),
        quick_exit_url=get("quick_exit_url", _http_url(exact=False), "https://www.bbc.com/weather"),
        log_level=get("log_level", _log_level, "INFO"),
        totp_required_roles=get("totp_required_roles", _roles, ("admin",)),
        timezone=get("timezone", _timezone, "UTC"),
        handoff_offer_seconds=get("handoff_offer_seconds", _int_between(10, 600), 60),
        handoff_escalate_minutes=get("handoff_escalate_minutes", _int_between(1, 120), 3),
        handoff_after_hours_minutes=get("handoff_after_hours_minutes", _int_between(1, 240), 10),
        advocate_max_conversations=get("advocate_max_conversations", _int_between(1, 20), 3),
        script_approval=get("script_approval", _bool, False),
    )
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    twilio = ("twilio_account_sid", "twilio_auth_token", "twilio_from")
    present = [env_name(name) for name in twilio if getattr(settings, name) is not None]
    if present:
        for name in twilio:
            if getattr(settings, name) is None:
                raise ConfigError(
                    env_name(name),
                    f"is required because {' and '.join(present)} "
                    f"{'is' if len(present) == 1 else 'are'} set: Twilio needs the account SID, "
                    "auth token and sender together",
                )
    if settings.telegram_token is not None and settings.telegram_secret_token is None:
        raise ConfigError(
            env_name("telegram_secret_token"),
            "is required with PORCHLIGHT_TELEGRAM_TOKEN: without it anyone could forge updates",
        )


# Parsers: a raw value from TOML or the environment (strings already stripped and non-empty)
# -> the typed value, or _Invalid. Only non-secret values are quoted back.


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, got {value!r}")
    return value


def _directory(value: object) -> Path:
    try:
        return Path(_string(value)).expanduser().absolute()
    except RuntimeError:  # "~user/..." for a user without a home directory
        raise _Invalid(f"cannot expand the home directory in {value!r}") from None


def _host(value: object) -> str:
    text = _string(value)
    if "/" in text or any(char.isspace() for char in text):
        raise _Invalid(
            f"must be an address to listen on, like 127.0.0.1 or 0.0.0.0, not {text!r} "
            "(the URL people use goes in PORCHLIGHT_PUBLIC_URL)"
        )
    return text


def _int_between(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        problem = f"must be an integer between {low} and {high}, got {value!r}"
        if isinstance(value, bool):  # TOML true/false are ints to Python
            raise _Invalid(problem)
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value):
            number = int(value)
        else:
            raise _Invalid(problem)
        if not low <= number <= high:
            raise _Invalid(problem)
        return number

    return parse


def _http_url(*, exact: bool) -> Callable[[object], str]:
    """Parse an absolute http(s) URL.

    Args:
        exact: for URLs that paths are appended to (the public URL, API bases): refuse a
            query or fragment and strip a trailing slash. The quick-exit URL may be any
            everyday page, a search with a query included.
    """

    def parse(value: object) -> str:
        text = _string(value)
        try:
            parts = urlsplit(text)
            _ = parts.port  # raises ValueError for a port that is not a number 0-65535
        except ValueError:
            raise _Invalid("is not a valid URL (check the host and port)") from None
        if "@" in parts.netloc:
            raise _Invalid("must not contain a user name or password")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _Invalid(f"must be an absolute http:// or https:// URL, got {text!r}")
        if any(char.isspace() for char in text):
            raise _Invalid(f"must not contain spaces, got {text!r}")
        if exact and ("?" in text or "#" in text):
            raise _Invalid(f"must not have a query string or fragment, got {text!r}")
        return text.rstrip("/") if exact else text

    return parse


def _database_url(value: object) -> str:
    text = _string(value)
    scheme, separator, _ = text.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        raise _Invalid(
            "must be a URL like sqlite+aiosqlite:///path/to/porchlight.db or "
            "postgresql+asyncpg://user:password@host/dbname"
        )
    if scheme in DATABASE_SCHEMES:
        try:
            make_url(text)
        except (ArgumentError, ValueError):
            raise _Invalid(f"is not a valid {scheme}:// URL") from None
        return text
    family = scheme.lower().split("+", 1)[0]
    if family in ("postgresql", "postgres"):
        advice = "use postgresql+asyncpg:// instead (the rest of the URL stays the same)"
    elif family == "sqlite":
        advice = "use sqlite+aiosqlite:// instead (the rest of the URL stays the same)"
    else:
        advice = "use sqlite+aiosqlite:// or postgresql+asyncpg://"
    raise _Invalid(f"has the scheme {scheme}://, which Porchlight cannot use: {advice}")


def _secret(value: object) -> Secret:
    if not isinstance(value, str):
        raise _Invalid("must be a string")  # not quoted: it is a secret
    return Secret(value)


def _master_key(value: object) -> Secret:
    secret = _secret(value)
    key = _decode_base64(secret.reveal())
    if key is None:
        raise _Invalid(
            "must be base64 of exactly 32 random bytes; this is not valid base64 "
            "(see docs/configuration.md for how to generate one)"
        )
    if len(key) != MASTER_KEY_BYTES:
        raise _Invalid(
            f"must be base64 of exactly 32 random bytes; this decodes to {len(key)} bytes "
            "(see docs/configuration.md for how to generate one)"
        )
    return secret


def decode_master_key(text: str) -> bytes | None:
    """Decode a master key, or return None if it is not base64 of exactly 32 bytes.

    Both base64 alphabets are accepted, padding optional, because keys are pasted from
    different tools (Python's ``b64encode``, ``openssl rand -base64 32``, urlsafe tokens).
    Shared with the key file reader in :mod:`crypto.keyring` so both accept the same keys.
    """
    key = _decode_base64(text)
    return key if key is not None and len(key) == MASTER_KEY_BYTES else None


def _decode_base64(text: str) -> bytes | None:
    stripped = text.strip()
    padded = stripped + "=" * (-len(stripped) % 4)
    standard = padded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _twilio_account_sid(value: object) -> str:
    text = _string(value)
    if not _TWILIO_SID.fullmatch(text):
        raise _Invalid(
            "must be AC followed by 32 hexadecimal digits (the Account SID in Twilio's "
            f"console), got {text!r}"
        )
    return text


def _twilio_from(value: object) -> str:
    text = _string(value)
    if _E164.fullmatch(text.removeprefix("whatsapp:")) or _MESSAGING_SERVICE.fullmatch(text):
        return text
    raise _Invalid(
        "must be an E.164 number (+15551234567), whatsapp:+15551234567 or a messaging "
        f"service SID (MG followed by 32 hexadecimal digits), got {text!r}"
    )


def _telegram_token(value: object) -> Secret:
    secret = _secret(value)
    if not _TELEGRAM_TOKEN.fullmatch(secret.reveal()):
        raise _Invalid("must look like <bot id>:<token>, exactly as BotFather gives it")
    return secret


def _telegram_secret(value: object) -> Secret:
    secret = _secret(value)
    if not _TELEGRAM_SECRET.fullmatch(secret.reveal()):
        raise _Invalid("must be 1-256 characters, each one of A-Z, a-z, 0-9, _ and -")
    return secret


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise _Invalid(f"must be true or false, not {value!r}")


def _log_level(value: object) -> str:
    level = _string(value).upper()
    if level not in LOG_LEVELS:
        raise _Invalid(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _timezone(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be an IANA time zone name such as Europe/London, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(
            f"must be an IANA time zone name such as Europe/London, got {value!r}"
        ) from None
    return value


def _roles(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise _Invalid(f"must be a list of roles or a comma-separated string, got {value!r}")
    roles = [item for item in items if item]
    for role in roles:
        if role not in ROLES:
            raise _Invalid(f"has the unknown role {role!r}: the roles are {' and '.join(ROLES)}")
    return tuple(dict.fromkeys(roles))
