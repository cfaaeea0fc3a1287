"""Load Settings from defaults, a TOML file and ``PORCHLIGHT_*`` environment variables.

Later sources win: defaults < TOML file < environment. Every problem raises ConfigError
naming the setting as its environment variable, so an operator knows what to fix whichever
source they used. Secret values are never echoed in an error.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config.errors import ConfigError
from config.settings import SETTING_NAMES, Secret, Settings, env_name

CONFIG_ENV = "PORCHLIGHT_CONFIG"
IGNORED_ENV_PREFIXES = ("PORCHLIGHT_TEST_",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ROLES = ("admin", "advocate")
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

_FIELD_NAMES = tuple(f.name for f in fields(Settings))
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_TELEGRAM_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]{30,}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build validated Settings.

    Args:
        env: the environment to read (``os.environ`` when None).
        config_file: a TOML file; when None, ``PORCHLIGHT_CONFIG`` may name one.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    if config_file is not None:
        raw.update(_read_toml(config_file))
    raw.update(_read_env(env))
    return _build(raw)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(CONFIG_ENV, f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(CONFIG_ENV, f"{path} is not valid TOML: {exc}") from None
    for key in document:
        if key not in _FIELD_NAMES:
            raise ConfigError(
                CONFIG_ENV, f"{path} has unknown setting {key!r}{_suggest(key, _FIELD_NAMES)}"
            )
    return dict(document)


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("PORCHLIGHT_") or name == CONFIG_ENV:
            continue
        if name.startswith(IGNORED_ENV_PREFIXES):
            continue
        if name not in SETTING_NAMES:
            raise ConfigError(name, f"unknown setting{_suggest(name, SETTING_NAMES)}")
        field = name.removeprefix("PORCHLIGHT_").lower()
        raw[field] = None if value == "" else value
    return raw


def _suggest(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _build(raw: Mapping[str, Any]) -> Settings:
    def get(name: str, parse: Callable[[str, Any], Any], default: Any) -> Any:
        value = raw.get(name)
        if value is None:
            return default
        return parse(name, value)

    data_dir = Path(get("data_dir", _text, "data")).expanduser().absolute()
    host = get("host", _text, "127.0.0.1")
    port = get("port", _int_between(1, 65535), 8080)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": get(
            "database_url", _database_url, f"sqlite+aiosqlite:///{data_dir}/porchlight.db"
        ),
        "host": host,
        "port": port,
        "public_url": get("public_url", _http_url, f"http://{host}:{port}").rstrip("/"),
        "master_key": get("master_key", _master_key, None),
        "twilio_account_sid": get("twilio_account_sid", _pattern(_TWILIO_SID, "AC + 32 hex"), None),
        "twilio_auth_token": get("twilio_auth_token", _secret, None),
        "twilio_from": get("twilio_from", _twilio_from, None),
        "twilio_api_base": get("twilio_api_base", _http_url, "https://api.twilio.com").rstrip("/"),
        "telegram_token": get("telegram_token", _telegram_token, None),
        "telegram_secret_token": get("telegram_secret_token", _telegram_secret, None),
        "telegram_api_base": get("telegram_api_base", _http_url, "https://api.telegram.org").rstrip(
            "/"
        ),
        "retention_days": get("retention_days", _int_between(1, 3650), 90),
        "quick_exit_url": get("quick_exit_url", _http_url, "https://www.bbc.com/weather"),
        "log_level": get("log_level", _log_level, "INFO"),
        "totp_required_roles": get("totp_required_roles", _roles, ("admin",)),
    }
    _check_together(values)
    return Settings(**values)


def _check_together(values: Mapping[str, Any]) -> None:
    twilio = ("twilio_account_sid", "twilio_auth_token", "twilio_from")
    if any(values[name] is not None for name in twilio):
        for name in twilio:
            if values[name] is None:
                raise ConfigError(
                    env_name(name), "is required when any other Twilio setting is set"
                )
    if values["telegram_token"] is not None and values["telegram_secret_token"] is None:
        raise ConfigError(
            env_name("telegram_secret_token"),
            "is required with PORCHLIGHT_TELEGRAM_TOKEN: without it anyone could forge updates",
        )


# Parsers: (field name, raw value from TOML or env) -> typed value, or ConfigError.


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(env_name(name), "must be a non-empty string")
    return value.strip()


def _int_between(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        problem = f"must be an integer between {low} and {high}, got {value!r}"
        if isinstance(value, bool):
            raise ConfigError(env_name(name), problem)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(env_name(name), problem) from None
        if isinstance(value, float) or not low <= number <= high:
            raise ConfigError(env_name(name), problem)
        return number

    return parse


def _http_url(name: str, value: Any) -> str:
    text = _text(name, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(env_name(name), f"must be an absolute http(s) URL, got {text!r}")
    # Quick exit may point at any everyday page (a search, say); API bases and the public
    # URL are joined with paths, so a query or fragment there is a mistake.
    if (parts.query or parts.fragment) and name != "quick_exit_url":
        raise ConfigError(env_name(name), "must not have a query string or fragment")
    return text


def _database_url(name: str, value: Any) -> str:
    text = _text(name, value)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme in DATABASE_SCHEMES:
        return text
    hints = {
        "postgresql": "postgresql+asyncpg://",
        "postgres": "postgresql+asyncpg://",
        "postgresql+psycopg2": "postgresql+asyncpg://",
        "sqlite": "sqlite+aiosqlite:///",
    }
    hint = hints.get(scheme)
    advice = f"use {hint} instead" if hint else "use sqlite+aiosqlite:/// or postgresql+asyncpg://"
    raise ConfigError(env_name(name), f"unsupported database URL scheme {scheme!r}: {advice}")


def _secret(name: str, value: Any) -> Secret:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(env_name(name), "must be a non-empty string")
    return Secret(value.strip())


def _master_key(name: str, value: Any) -> Secret:
    secret = _secret(name, value)
    if decode_master_key(secret.reveal()) is None:
        raise ConfigError(
            env_name(name), "must be base64 of exactly 32 random bytes (see docs/configuration.md)"
        )
    return secret


def decode_master_key(text: str) -> bytes | None:
    """Decode a base64 (standard or urlsafe, padding optional) 32-byte key, or None."""
    stripped = text.strip()
    padded = stripped + "=" * (-len(stripped) % 4)
    # Accept either alphabet by mapping urlsafe characters onto the standard ones.
    standard = padded.replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(standard.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return key if len(key) == 32 else None


def _pattern(pattern: re.Pattern[str], description: str) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        text = _text(name, value)
        if not pattern.fullmatch(text):
            raise ConfigError(env_name(name), f"must look like {description}")
        return text

    return parse


def _twilio_from(name: str, value: Any) -> str:
    text = _text(name, value)
    number = text.removeprefix("whatsapp:")
    if _E164.fullmatch(number) or _MESSAGING_SERVICE.fullmatch(text):
        return text
    raise ConfigError(
        env_name(name),
        "must be an E.164 number (+15551234567), whatsapp:+… or a messaging service SID (MG…)",
    )


def _telegram_token(name: str, value: Any) -> Secret:
    secret = _secret(name, value)
    if not _TELEGRAM_TOKEN.fullmatch(secret.reveal()):
        raise ConfigError(env_name(name), "must look like <bot id>:<token> as BotFather gives it")
    return secret


def _telegram_secret(name: str, value: Any) -> Secret:
    secret = _secret(name, value)
    if not _TELEGRAM_SECRET.fullmatch(secret.reveal()):
        raise ConfigError(env_name(name), "must be 1-256 characters of A-Z, a-z, 0-9, _ or -")
    return secret


def _log_level(name: str, value: Any) -> str:
    level = _text(name, value).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(env_name(name), f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _roles(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise ConfigError(env_name(name), "must be a list of roles or a comma-separated string")
    for item in items:
        if item not in ROLES:
            raise ConfigError(env_name(name), f"unknown role {item!r}: use {' or '.join(ROLES)}")
    return tuple(dict.fromkeys(items))
