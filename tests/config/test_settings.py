import dataclasses
import re
from pathlib import Path

import pytest

from config import ConfigError, Secret, Settings, describe_settings, load_settings

KEY = "c2VjcmV0LWNhbmFyeS1rZXktMzItYnl0ZXMtbG9uZyE="  # base64 of 32 bytes
CANARY_SECRET = "123456:canary-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
SID = "AC" + "0" * 32


def load(tmp_path: Path, config: str | None = None, **env: str) -> Settings:
    environment = {"PORCHLIGHT_DATA_DIR": str(tmp_path / "data"), **env}
    path = None
    if config is not None:
        path = tmp_path / "porchlight.toml"
        path.write_text(config)
    return load_settings(env=environment, config_file=path)


def test_defaults_are_safe_and_complete(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/data/porchlight.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.master_key is None
    assert settings.retention_days == 90
    assert settings.log_level == "INFO"
    assert settings.totp_required_roles == ("admin",)
    assert settings.quick_exit_url.startswith("https://")


def test_environment_beats_the_file_which_beats_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'port = 9000\nretention_days = 30\nlog_level = "debug"\n'
        'totp_required_roles = ["admin", "advocate"]\n',
        PORCHLIGHT_PORT="9100",
    )
    assert settings.port == 9100
    assert settings.retention_days == 30
    assert settings.log_level == "DEBUG"
    assert settings.totp_required_roles == ("admin", "advocate")
    assert settings.public_url == "http://127.0.0.1:9100"


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("port = 9300\n")
    settings = load_settings(
        env={"PORCHLIGHT_DATA_DIR": str(tmp_path), "PORCHLIGHT_CONFIG": str(path)}
    )
    assert settings.port == 9300


def test_an_empty_variable_means_unset(tmp_path: Path) -> None:
    assert load(tmp_path, PORCHLIGHT_MASTER_KEY="").master_key is None
    assert load(tmp_path, PORCHLIGHT_TOTP_REQUIRED_ROLES=" , ").totp_required_roles == ()


def test_keys_are_accepted_in_either_base64_alphabet_with_or_without_padding(
    tmp_path: Path,
) -> None:
    urlsafe = KEY.replace("+", "-").replace("/", "_").rstrip("=")
    for form in (KEY, urlsafe):
        master_key = load(tmp_path, PORCHLIGHT_MASTER_KEY=form).master_key
        assert master_key is not None
        assert master_key.reveal() == form


@pytest.mark.parametrize(
    ("env", "setting", "problem"),
    [
        ({"PORCHLIGHT_PORT": "abc"}, "PORCHLIGHT_PORT", "integer between 1 and 65535"),
        ({"PORCHLIGHT_PORT": "0"}, "PORCHLIGHT_PORT", "integer between 1 and 65535"),
        ({"PORCHLIGHT_RETENTION_DAYS": "0"}, "PORCHLIGHT_RETENTION_DAYS", "between 1 and 3650"),
        ({"PORCHLIGHT_PUBLIC_URL": "chat.example.org"}, "PORCHLIGHT_PUBLIC_URL", "absolute"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://x.org/?a=1"}, "PORCHLIGHT_PUBLIC_URL", "query"),
        ({"PORCHLIGHT_QUICK_EXIT_URL": "javascript:alert(1)"}, "PORCHLIGHT_QUICK_EXIT_URL", "http"),
        (
            {"PORCHLIGHT_DATABASE_URL": "postgres://u@h/db"},
            "PORCHLIGHT_DATABASE_URL",
            "use postgresql+asyncpg:// instead",
        ),
        (
            {"PORCHLIGHT_DATABASE_URL": "sqlite:///x.db"},
            "PORCHLIGHT_DATABASE_URL",
            "use sqlite+aiosqlite:/// instead",
        ),
        ({"PORCHLIGHT_MASTER_KEY": "dG9vIHNob3J0"}, "PORCHLIGHT_MASTER_KEY", "32 random bytes"),
        ({"PORCHLIGHT_MASTER_KEY": "not base64 !!"}, "PORCHLIGHT_MASTER_KEY", "32 random bytes"),
        ({"PORCHLIGHT_TWILIO_ACCOUNT_SID": SID}, "PORCHLIGHT_TWILIO_AUTH_TOKEN", "required"),
        ({"PORCHLIGHT_TWILIO_ACCOUNT_SID": "AC123"}, "PORCHLIGHT_TWILIO_ACCOUNT_SID", "AC"),
        (
            {
                "PORCHLIGHT_TWILIO_ACCOUNT_SID": SID,
                "PORCHLIGHT_TWILIO_AUTH_TOKEN": "t",
                "PORCHLIGHT_TWILIO_FROM": "5551234",
            },
            "PORCHLIGHT_TWILIO_FROM",
            "E.164",
        ),
        (
            {"PORCHLIGHT_TELEGRAM_TOKEN": CANARY_SECRET},
            "PORCHLIGHT_TELEGRAM_SECRET_TOKEN",
            "forge",
        ),
        ({"PORCHLIGHT_TELEGRAM_TOKEN": "nonsense"}, "PORCHLIGHT_TELEGRAM_TOKEN", "BotFather"),
        (
            {"PORCHLIGHT_TELEGRAM_TOKEN": CANARY_SECRET, "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": "a b"},
            "PORCHLIGHT_TELEGRAM_SECRET_TOKEN",
            "1-256 characters",
        ),
        ({"PORCHLIGHT_LOG_LEVEL": "LOUD"}, "PORCHLIGHT_LOG_LEVEL", "one of DEBUG"),
        ({"PORCHLIGHT_TOTP_REQUIRED_ROLES": "root"}, "PORCHLIGHT_TOTP_REQUIRED_ROLES", "root"),
        (
            {"PORCHLIGHT_MASTERKEY": KEY},
            "PORCHLIGHT_MASTERKEY",
            "did you mean PORCHLIGHT_MASTER_KEY",
        ),
    ],
)
def test_bad_values_name_the_setting_and_the_problem(
    tmp_path: Path, env: dict[str, str], setting: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **env)
    assert caught.value.setting == setting
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{setting}: ")


def test_test_only_variables_are_not_mistaken_for_settings(tmp_path: Path) -> None:
    load(tmp_path, PORCHLIGHT_TEST_DATABASE_URL="postgresql+asyncpg://x@y/z")


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("prot = 8080\n", "unknown setting 'prot' (did you mean port?)"),
        ("port = \n", "not valid TOML"),
        ("port = 8080.5\n", "integer"),
        ("port = true\n", "integer"),
        ("host = 7\n", "non-empty string"),
    ],
)
def test_a_bad_config_file_is_refused_with_a_reason(
    tmp_path: Path, toml: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load(tmp_path, toml)


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")


def test_secrets_never_show_in_repr_descriptions_or_errors(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        PORCHLIGHT_MASTER_KEY=KEY,
        PORCHLIGHT_TELEGRAM_TOKEN=CANARY_SECRET,
        PORCHLIGHT_TELEGRAM_SECRET_TOKEN="canary_webhook_secret",
        PORCHLIGHT_DATABASE_URL="postgresql+asyncpg://user:canary-db-pass@db/porchlight",
    )
    shown = repr(settings) + str(settings) + str(describe_settings(settings))
    for secret in (KEY, CANARY_SECRET, "canary_webhook_secret", "canary-db-pass"):
        assert secret not in shown
    assert ("PORCHLIGHT_MASTER_KEY", "******** (set)") in describe_settings(settings)
    assert repr(Secret("x")) == "Secret('********')"

    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PORCHLIGHT_TELEGRAM_TOKEN=CANARY_SECRET + " with spaces")
    assert CANARY_SECRET not in str(caught.value)


def test_settings_cannot_be_changed_after_loading(tmp_path: Path) -> None:
    settings = load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
