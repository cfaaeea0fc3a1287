import base64
import copy
import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import (
    SETTING_NAMES,
    ConfigError,
    Secret,
    Settings,
    decode_master_key,
    describe_settings,
    format_settings,
    load_settings,
)
from config.settings import redact_url

KEY = base64.b64encode(b"secret-canary-key-32-bytes-long!").decode()
SID = "AC" + "0123456789abcdef" * 2
MESSAGING_SERVICE = "MG" + "0123456789abcdef" * 2
TELEGRAM_TOKEN = "123456:canary-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
CANARY = "canary-s3cret-value"
TWILIO = {
    "PORCHLIGHT_TWILIO_ACCOUNT_SID": SID,
    "PORCHLIGHT_TWILIO_AUTH_TOKEN": "auth-token",
    "PORCHLIGHT_TWILIO_FROM": "+15551234567",
}
TELEGRAM = {
    "PORCHLIGHT_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
    "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": "webhook_secret-1",
}


def load(tmp_path: Path, config: str | None = None, **env: str) -> Settings:
    environment = {"PORCHLIGHT_DATA_DIR": str(tmp_path / "data"), **env}
    path = None
    if config is not None:
        path = tmp_path / "porchlight.toml"
        path.write_text(config)
    return load_settings(env=environment, config_file=path)


def problem_with(tmp_path: Path, config: str | None = None, **env: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, config, **env)
    return caught.value


# Sources and defaults


def test_defaults_are_safe_and_complete(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings == Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/data/porchlight.db",
        host="127.0.0.1",
        port=8080,
        public_url="http://127.0.0.1:8080",
        master_key=None,
        twilio_account_sid=None,
        twilio_auth_token=None,
        twilio_from=None,
        twilio_api_base="https://api.twilio.com",
        telegram_token=None,
        telegram_secret_token=None,
        telegram_api_base="https://api.telegram.org",
        retention_days=90,
        report_retention_days=None,
        quick_exit_url="https://www.bbc.com/weather",
        log_level="INFO",
        totp_required_roles=("admin",),
        timezone="UTC",
        handoff_offer_seconds=60,
        handoff_escalate_minutes=3,
        handoff_after_hours_minutes=10,
        advocate_max_conversations=3,
        script_approval=False,
    )


def test_the_default_data_dir_is_made_absolute_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).data_dir == tmp_path / "data"
    assert load_settings(env={"PORCHLIGHT_DATA_DIR": "state"}).data_dir == tmp_path / "state"


def test_the_environment_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORCHLIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORCHLIGHT_RETENTION_DAYS", "14")
    assert load_settings().retention_days == 14


def test_environment_beats_the_file_which_beats_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'port = 9000\nretention_days = 30\nlog_level = "debug"\nhost = "0.0.0.0"\n'
        'totp_required_roles = ["admin", "advocate"]\n',
        PORCHLIGHT_PORT="9100",
        PORCHLIGHT_HOST="127.0.0.2",
    )
    assert settings.port == 9100
    assert settings.host == "127.0.0.2"
    assert settings.retention_days == 30
    assert settings.log_level == "DEBUG"
    assert settings.totp_required_roles == ("admin", "advocate")
    assert settings.public_url == "http://127.0.0.2:9100"


def test_the_file_can_set_every_kind_of_value(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        config_file=write(
            tmp_path,
            f'data_dir = "{tmp_path}/var"\n'
            'database_url = "postgresql+asyncpg://porchlight@db/porchlight"\n'
            'public_url = "https://chat.example.org/"\n'
            f'master_key = "{KEY}"\n'
            f'telegram_token = "{TELEGRAM_TOKEN}"\n'
            'telegram_secret_token = "s3cret"\n'
            'totp_required_roles = "advocate, admin"\n',
        ),
    )
    assert settings.data_dir == tmp_path / "var"
    assert settings.database_url == "postgresql+asyncpg://porchlight@db/porchlight"
    assert settings.public_url == "https://chat.example.org"
    assert settings.master_key == Secret(KEY)
    assert settings.telegram_token == Secret(TELEGRAM_TOKEN)
    assert settings.totp_required_roles == ("advocate", "admin")


def write(tmp_path: Path, text: str, name: str = "porchlight.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9300\n", "elsewhere.toml")
    settings = load_settings(
        env={"PORCHLIGHT_DATA_DIR": str(tmp_path), "PORCHLIGHT_CONFIG": str(path)}
    )
    assert settings.port == 9300


def test_an_explicit_config_file_wins_over_porchlight_config(tmp_path: Path) -> None:
    named = write(tmp_path, "port = 9300\n", "named.toml")
    explicit = write(tmp_path, "port = 9400\n", "explicit.toml")
    settings = load_settings(
        env={"PORCHLIGHT_DATA_DIR": str(tmp_path), "PORCHLIGHT_CONFIG": str(named)},
        config_file=explicit,
    )
    assert settings.port == 9400


def test_an_empty_variable_unsets_an_optional_setting(tmp_path: Path) -> None:
    settings = load(tmp_path, f'master_key = "{KEY}"\n', PORCHLIGHT_MASTER_KEY="")
    assert settings.master_key is None
    assert load(tmp_path, PORCHLIGHT_TWILIO_FROM=" ").twilio_from is None


@pytest.mark.parametrize("value", ["", " , ", ","])
def test_an_empty_role_list_means_no_role_needs_two_factor(tmp_path: Path, value: str) -> None:
    assert load(tmp_path, PORCHLIGHT_TOTP_REQUIRED_ROLES=value).totp_required_roles == ()
    assert load(tmp_path, "totp_required_roles = []\n").totp_required_roles == ()


@pytest.mark.parametrize(
    "name", ["PORCHLIGHT_DATA_DIR", "PORCHLIGHT_DATABASE_URL", "PORCHLIGHT_PORT"]
)
def test_an_empty_required_setting_is_an_error_not_a_silent_default(
    tmp_path: Path, name: str
) -> None:
    # PORCHLIGHT_DATABASE_URL=${DB_URL} with DB_URL unset must not quietly fall back to SQLite.
    problem = problem_with(tmp_path, **{name: ""})
    assert problem.setting == name
    assert "is set but empty" in problem.problem


def test_values_are_coerced_and_normalised(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        PORCHLIGHT_PORT=" 8443 ",
        PORCHLIGHT_LOG_LEVEL="warning",
        PORCHLIGHT_PUBLIC_URL="https://chat.example.org/porchlight/",
        PORCHLIGHT_TOTP_REQUIRED_ROLES="advocate,admin,advocate",
        PORCHLIGHT_MASTER_KEY=f" {KEY}\n",
    )
    assert settings.port == 8443
    assert settings.log_level == "WARNING"
    assert settings.public_url == "https://chat.example.org/porchlight"
    assert settings.totp_required_roles == ("advocate", "admin")
    assert settings.master_key == Secret(KEY)


def test_an_ipv6_host_gets_a_bracketed_default_public_url(tmp_path: Path) -> None:
    assert load(tmp_path, PORCHLIGHT_HOST="::1").public_url == "http://[::1]:8080"


def test_the_quick_exit_url_may_carry_a_query(tmp_path: Path) -> None:
    url = "https://www.google.com/search?q=weather+tomorrow"
    assert load(tmp_path, PORCHLIGHT_QUICK_EXIT_URL=url).quick_exit_url == url


@pytest.mark.parametrize("sender", ["+15551234567", "whatsapp:+447700900123", MESSAGING_SERVICE])
def test_twilio_accepts_a_number_a_whatsapp_sender_or_a_messaging_service(
    tmp_path: Path, sender: str
) -> None:
    settings = load(tmp_path, **{**TWILIO, "PORCHLIGHT_TWILIO_FROM": sender})
    assert settings.twilio_from == sender
    assert settings.twilio_auth_token == Secret("auth-token")


def test_telegram_secret_tokens_may_be_as_long_as_telegram_allows(tmp_path: Path) -> None:
    longest = "a" * 256
    settings = load(tmp_path, **{**TELEGRAM, "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": longest})
    assert settings.telegram_secret_token == Secret(longest)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///relative.db",
        "sqlite+aiosqlite:////var/lib/porchlight/porchlight.db",
        "postgresql+asyncpg://porchlight:pw@db.internal:5432/porchlight",
    ],
)
def test_both_supported_database_drivers_are_accepted(tmp_path: Path, url: str) -> None:
    assert load(tmp_path, PORCHLIGHT_DATABASE_URL=url).database_url == url


def test_test_only_variables_are_not_mistaken_for_settings(tmp_path: Path) -> None:
    load(
        tmp_path,
        PORCHLIGHT_TEST_DATABASE_URL="postgresql+asyncpg://x@y/z",
        PORCHLIGHT_TEST_ANYTHING="1",
        OTHER_PROGRAM_PORT="abc",
    )


# Master keys


def test_keys_are_accepted_in_either_base64_alphabet_with_or_without_padding(
    tmp_path: Path,
) -> None:
    raw = bytes(range(250, 256)) + bytes(range(26))  # bytes that encode to + / - _
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert standard != urlsafe
    for form in (standard, urlsafe, standard.rstrip("="), urlsafe.rstrip("=")):
        master_key = load(tmp_path, PORCHLIGHT_MASTER_KEY=form).master_key
        assert master_key == Secret(form)
        assert decode_master_key(form) == raw


@given(st.binary(min_size=32, max_size=32), st.booleans(), st.booleans())
def test_any_32_byte_key_decodes_in_any_accepted_form(
    key: bytes, urlsafe: bool, unpadded: bool
) -> None:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(key).decode()
    assert decode_master_key(text.rstrip("=") if unpadded else text) == key


@given(st.binary(max_size=64).filter(lambda key: len(key) != 32))
def test_keys_of_any_other_length_are_refused(key: bytes) -> None:
    assert decode_master_key(base64.b64encode(key).decode()) is None


# Invalid values: each names the setting and says what is wrong


@pytest.mark.parametrize(
    ("env", "setting", "problem"),
    [
        ({"PORCHLIGHT_PORT": "abc"}, "PORCHLIGHT_PORT", "integer between 1 and 65535, got 'abc'"),
        ({"PORCHLIGHT_PORT": "0"}, "PORCHLIGHT_PORT", "integer between 1 and 65535, got '0'"),
        ({"PORCHLIGHT_PORT": "65536"}, "PORCHLIGHT_PORT", "between 1 and 65535"),
        ({"PORCHLIGHT_PORT": "80.5"}, "PORCHLIGHT_PORT", "between 1 and 65535"),
        ({"PORCHLIGHT_RETENTION_DAYS": "0"}, "PORCHLIGHT_RETENTION_DAYS", "between 1 and 3650"),
        ({"PORCHLIGHT_RETENTION_DAYS": "3651"}, "PORCHLIGHT_RETENTION_DAYS", "between 1 and 3650"),
        ({"PORCHLIGHT_RETENTION_DAYS": "-5"}, "PORCHLIGHT_RETENTION_DAYS", "between 1 and 3650"),
        ({"PORCHLIGHT_HOST": "http://0.0.0.0"}, "PORCHLIGHT_HOST", "PORCHLIGHT_PUBLIC_URL"),
        ({"PORCHLIGHT_PUBLIC_URL": "chat.example.org"}, "PORCHLIGHT_PUBLIC_URL", "absolute"),
        ({"PORCHLIGHT_PUBLIC_URL": "ftp://example.org"}, "PORCHLIGHT_PUBLIC_URL", "https://"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://"}, "PORCHLIGHT_PUBLIC_URL", "absolute"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://x.org/?a=1"}, "PORCHLIGHT_PUBLIC_URL", "query"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://x.org/#top"}, "PORCHLIGHT_PUBLIC_URL", "fragment"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://x.org:99999"}, "PORCHLIGHT_PUBLIC_URL", "port"),
        ({"PORCHLIGHT_PUBLIC_URL": "https://x .org"}, "PORCHLIGHT_PUBLIC_URL", "spaces"),
        ({"PORCHLIGHT_TWILIO_API_BASE": "localhost:9000"}, "PORCHLIGHT_TWILIO_API_BASE", "http"),
        (
            {"PORCHLIGHT_TELEGRAM_API_BASE": "api.telegram.org"},
            "PORCHLIGHT_TELEGRAM_API_BASE",
            "http",
        ),
        ({"PORCHLIGHT_QUICK_EXIT_URL": "javascript:alert(1)"}, "PORCHLIGHT_QUICK_EXIT_URL", "http"),
        ({"PORCHLIGHT_QUICK_EXIT_URL": "/weather"}, "PORCHLIGHT_QUICK_EXIT_URL", "absolute"),
        (
            {"PORCHLIGHT_DATABASE_URL": "postgres://u@h/db"},
            "PORCHLIGHT_DATABASE_URL",
            "use postgresql+asyncpg:// instead",
        ),
        (
            {"PORCHLIGHT_DATABASE_URL": "postgresql://u@h/db"},
            "PORCHLIGHT_DATABASE_URL",
            "use postgresql+asyncpg:// instead",
        ),
        (
            {"PORCHLIGHT_DATABASE_URL": "postgresql+psycopg2://u@h/db"},
            "PORCHLIGHT_DATABASE_URL",
            "use postgresql+asyncpg:// instead",
        ),
        (
            {"PORCHLIGHT_DATABASE_URL": "sqlite:///x.db"},
            "PORCHLIGHT_DATABASE_URL",
            "use sqlite+aiosqlite:// instead",
        ),
        (
            {"PORCHLIGHT_DATABASE_URL": "mysql://u@h/db"},
            "PORCHLIGHT_DATABASE_URL",
            "use sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        ({"PORCHLIGHT_DATABASE_URL": "porchlight.db"}, "PORCHLIGHT_DATABASE_URL", "like sqlite"),
        ({"PORCHLIGHT_MASTER_KEY": "dG9vIHNob3J0"}, "PORCHLIGHT_MASTER_KEY", "decodes to 9 bytes"),
        (
            {"PORCHLIGHT_MASTER_KEY": base64.b64encode(bytes(33)).decode()},
            "PORCHLIGHT_MASTER_KEY",
            "exactly 32 random bytes",
        ),
        ({"PORCHLIGHT_MASTER_KEY": "not base64 !!"}, "PORCHLIGHT_MASTER_KEY", "not valid base64"),
        ({"PORCHLIGHT_TWILIO_ACCOUNT_SID": "AC123"}, "PORCHLIGHT_TWILIO_ACCOUNT_SID", "32 hex"),
        (
            {**TWILIO, "PORCHLIGHT_TWILIO_FROM": "5551234"},
            "PORCHLIGHT_TWILIO_FROM",
            "E.164",
        ),
        (
            {**TWILIO, "PORCHLIGHT_TWILIO_FROM": "whatsapp:5551234"},
            "PORCHLIGHT_TWILIO_FROM",
            "E.164",
        ),
        (
            {"PORCHLIGHT_TELEGRAM_TOKEN": TELEGRAM_TOKEN},
            "PORCHLIGHT_TELEGRAM_SECRET_TOKEN",
            "forge",
        ),
        ({"PORCHLIGHT_TELEGRAM_TOKEN": "nonsense"}, "PORCHLIGHT_TELEGRAM_TOKEN", "BotFather"),
        ({"PORCHLIGHT_TELEGRAM_TOKEN": "123456:short"}, "PORCHLIGHT_TELEGRAM_TOKEN", "BotFather"),
        (
            {**TELEGRAM, "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": "a b"},
            "PORCHLIGHT_TELEGRAM_SECRET_TOKEN",
            "1-256 characters",
        ),
        (
            {**TELEGRAM, "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": "a" * 257},
            "PORCHLIGHT_TELEGRAM_SECRET_TOKEN",
            "1-256 characters",
        ),
        ({"PORCHLIGHT_LOG_LEVEL": "LOUD"}, "PORCHLIGHT_LOG_LEVEL", "one of DEBUG"),
        ({"PORCHLIGHT_LOG_LEVEL": "critical"}, "PORCHLIGHT_LOG_LEVEL", "got 'critical'"),
        ({"PORCHLIGHT_TOTP_REQUIRED_ROLES": "root"}, "PORCHLIGHT_TOTP_REQUIRED_ROLES", "'root'"),
        (
            {"PORCHLIGHT_MASTERKEY": KEY},
            "PORCHLIGHT_MASTERKEY",
            "did you mean PORCHLIGHT_MASTER_KEY?",
        ),
        ({"PORCHLIGHT_PROT": "1"}, "PORCHLIGHT_PROT", "did you mean PORCHLIGHT_PORT?"),
        ({"PORCHLIGHT_UPDATE_SNAPSHOTS": "1"}, "PORCHLIGHT_UPDATE_SNAPSHOTS", "PORCHLIGHT_TEST_"),
    ],
)
def test_bad_values_name_the_setting_and_the_problem(
    tmp_path: Path, env: dict[str, str], setting: str, problem: str
) -> None:
    error = problem_with(tmp_path, **env)
    assert error.setting == setting
    assert problem in error.problem
    assert str(error) == f"{setting}: {error.problem}"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"PORCHLIGHT_TWILIO_ACCOUNT_SID": SID}, "PORCHLIGHT_TWILIO_AUTH_TOKEN"),
        ({"PORCHLIGHT_TWILIO_AUTH_TOKEN": "t"}, "PORCHLIGHT_TWILIO_ACCOUNT_SID"),
        ({"PORCHLIGHT_TWILIO_FROM": "+15551234567"}, "PORCHLIGHT_TWILIO_ACCOUNT_SID"),
        (
            {"PORCHLIGHT_TWILIO_ACCOUNT_SID": SID, "PORCHLIGHT_TWILIO_AUTH_TOKEN": "t"},
            "PORCHLIGHT_TWILIO_FROM",
        ),
    ],
)
def test_twilio_settings_come_all_together_or_not_at_all(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    error = problem_with(tmp_path, **given)
    assert error.setting == missing
    assert "is required because" in error.problem
    for name in given:
        assert name in error.problem


@pytest.mark.parametrize(
    ("toml", "setting", "problem"),
    [
        ("prot = 8080\n", "PORCHLIGHT_CONFIG", "unknown settings: 'prot' (did you mean port?)"),
        ("PORT = 8080\n", "PORCHLIGHT_CONFIG", "'PORT' (did you mean port?)"),
        ("PORCHLIGHT_PORT = 1\n", "PORCHLIGHT_CONFIG", "(did you mean port?)"),
        ("[server]\nport = 1\n", "PORCHLIGHT_CONFIG", "'server'"),
        ("port = \n", "PORCHLIGHT_CONFIG", "not valid TOML: Invalid value (at line 1, column 8)"),
        ('host = "x"\nport = = 1\n', "PORCHLIGHT_CONFIG", "(at line 2, column 8)"),
        ("port = 8080.5\n", "PORCHLIGHT_PORT", "integer between 1 and 65535, got 8080.5 (in "),
        ("port = true\n", "PORCHLIGHT_PORT", "integer"),
        ("retention_days = 0\n", "PORCHLIGHT_RETENTION_DAYS", "got 0"),
        ("host = 7\n", "PORCHLIGHT_HOST", "must be a string, got 7"),
        ("public_url = []\n", "PORCHLIGHT_PUBLIC_URL", "must be a string, got []"),
        ("totp_required_roles = [1]\n", "PORCHLIGHT_TOTP_REQUIRED_ROLES", "list of roles"),
        ('totp_required_roles = ["root"]\n', "PORCHLIGHT_TOTP_REQUIRED_ROLES", "'root'"),
        ("master_key = 12\n", "PORCHLIGHT_MASTER_KEY", "must be a string"),
    ],
)
def test_a_bad_config_file_is_refused_with_a_reason(
    tmp_path: Path, toml: str, setting: str, problem: str
) -> None:
    error = problem_with(tmp_path, toml)
    assert error.setting == setting
    assert problem in error.problem
    assert str(tmp_path / "porchlight.toml") in error.problem


def test_every_unknown_key_in_the_file_is_reported_at_once(tmp_path: Path) -> None:
    error = problem_with(tmp_path, "prot = 1\nhots = 'x'\n")
    assert "'prot' (did you mean port?), 'hots' (did you mean host?)" in error.problem


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.toml: No such file") as caught:
        load_settings(env={}, config_file=tmp_path / "missing.toml")
    assert caught.value.setting == "PORCHLIGHT_CONFIG"


def test_a_missing_file_named_by_the_environment_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PORCHLIGHT_CONFIG": str(tmp_path / "missing.toml")}
    with pytest.raises(ConfigError, match=r"^PORCHLIGHT_CONFIG: cannot read"):
        load_settings(env=env)


def test_a_directory_or_binary_file_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={}, config_file=tmp_path)
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"port = \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(env={}, config_file=binary)


# Secrets never show


def test_secrets_never_show_in_repr_str_or_descriptions(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        PORCHLIGHT_MASTER_KEY=KEY,
        PORCHLIGHT_TELEGRAM_TOKEN=TELEGRAM_TOKEN,
        PORCHLIGHT_TELEGRAM_SECRET_TOKEN="canary_webhook_secret",
        PORCHLIGHT_TWILIO_ACCOUNT_SID=SID,
        PORCHLIGHT_TWILIO_AUTH_TOKEN=CANARY,
        PORCHLIGHT_TWILIO_FROM="+15551234567",
        PORCHLIGHT_DATABASE_URL="postgresql+asyncpg://user:canary-db-pass@db/porchlight",
    )
    shown = "\n".join(
        [repr(settings), str(settings), str(describe_settings(settings)), format_settings(settings)]
    )
    for secret in (KEY, TELEGRAM_TOKEN, "canary_webhook_secret", CANARY, "canary-db-pass"):
        assert secret not in shown
    assert "postgresql+asyncpg://user:***@db/porchlight" in shown


@pytest.mark.parametrize(
    "env",
    [
        {"PORCHLIGHT_MASTER_KEY": CANARY},
        {"PORCHLIGHT_MASTER_KEY": base64.b64encode(CANARY.encode()).decode()},
        {"PORCHLIGHT_TELEGRAM_TOKEN": CANARY},
        {"PORCHLIGHT_TELEGRAM_TOKEN": f"123:{CANARY} with spaces"},
        {**TELEGRAM, "PORCHLIGHT_TELEGRAM_SECRET_TOKEN": f"{CANARY}!"},
        {"PORCHLIGHT_DATABASE_URL": f"postgres://user:{CANARY}@db/porchlight"},
        {"PORCHLIGHT_DATABASE_URL": f"postgresql+asyncpg://user:{CANARY}@db:port/x"},
        {"PORCHLIGHT_DATABASE_URL": f"user:{CANARY}@db/porchlight"},
        {"PORCHLIGHT_PUBLIC_URL": f"https://user:{CANARY}@chat.example.org"},
        {"PORCHLIGHT_TWILIO_API_BASE": f"ftp://user:{CANARY}@example.org"},
        {"PORCHLIGHT_TWILIO_AUTH_TOKEN": CANARY},  # incomplete Twilio settings
    ],
)
def test_errors_never_echo_a_secret(tmp_path: Path, env: dict[str, str]) -> None:
    error = problem_with(tmp_path, **env)
    assert CANARY not in str(error)
    assert error.setting in SETTING_NAMES


def test_a_bad_secret_in_the_file_is_not_echoed_either(tmp_path: Path) -> None:
    error = problem_with(tmp_path, f'telegram_token = "{CANARY}"\n')
    assert error.setting == "PORCHLIGHT_TELEGRAM_TOKEN"
    assert CANARY not in str(error)


def test_describe_lists_every_setting_in_order_with_secrets_redacted(tmp_path: Path) -> None:
    settings = load(tmp_path, PORCHLIGHT_MASTER_KEY=KEY, PORCHLIGHT_TOTP_REQUIRED_ROLES="")
    rows = describe_settings(settings)
    assert [name for name, _ in rows] == list(SETTING_NAMES)
    shown = dict(rows)
    assert shown["PORCHLIGHT_MASTER_KEY"] == "******** (set)"
    assert shown["PORCHLIGHT_TELEGRAM_TOKEN"] == "(not set)"
    assert shown["PORCHLIGHT_TOTP_REQUIRED_ROLES"] == "(none)"
    assert shown["PORCHLIGHT_PORT"] == "8080"
    assert shown["PORCHLIGHT_DATA_DIR"] == str(tmp_path / "data")


def test_the_roles_are_shown_in_the_form_the_environment_takes(tmp_path: Path) -> None:
    settings = load(tmp_path, PORCHLIGHT_TOTP_REQUIRED_ROLES="admin,advocate")
    assert dict(describe_settings(settings))["PORCHLIGHT_TOTP_REQUIRED_ROLES"] == "admin,advocate"


def test_format_settings_aligns_values_in_one_column(tmp_path: Path) -> None:
    lines = format_settings(load(tmp_path)).splitlines()
    assert len(lines) == len(SETTING_NAMES)
    columns = {re.search(r"\S+\s+", line).end() for line in lines}  # type: ignore[union-attr]
    assert len(columns) == 1
    assert lines[3].split() == ["PORCHLIGHT_PORT", "8080"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:pw@h/db", "postgresql+asyncpg://u:***@h/db"),
        ("postgresql+asyncpg://u@h/db?password=pw", "postgresql+asyncpg://u@h/db?password=***"),
        ("postgresql+asyncpg://u:p%40ss@h/db", "postgresql+asyncpg://u:***@h/db"),
        ("sqlite+aiosqlite:////var/lib/p.db", "sqlite+aiosqlite:////var/lib/p.db"),
        ("://pw", "<unparseable URL>"),
    ],
)
def test_database_passwords_are_redacted_for_display(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "pw" not in shown


# Secret and Settings as values


def test_a_secret_reveals_itself_only_when_asked() -> None:
    secret = Secret(CANARY)
    assert secret.reveal() == CANARY
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert CANARY not in shown
    assert repr(secret) == "Secret('********')"
    assert str(secret) == "Secret('********')"


def test_secrets_compare_and_hash_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert Secret("ä") == Secret("ä")  # non-ASCII compares too, in constant time


def test_secrets_cannot_be_changed_but_can_be_copied() -> None:
    secret = Secret("a")
    with pytest.raises(AttributeError):
        secret._value = "b"
    assert copy.deepcopy(secret) == secret
    assert copy.copy(secret) == secret


def test_settings_cannot_be_changed_after_loading(tmp_path: Path) -> None:
    settings = load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_settings_with_secrets_survive_asdict_and_replace(tmp_path: Path) -> None:
    settings = load(tmp_path, **TELEGRAM)
    assert dataclasses.asdict(settings)["telegram_token"] == Secret(TELEGRAM_TOKEN)
    assert dataclasses.replace(settings, port=9000).telegram_token == Secret(TELEGRAM_TOKEN)
    assert hash(settings) == hash(load(tmp_path, **TELEGRAM))


def test_config_error_names_the_setting_and_the_problem() -> None:
    error = ConfigError("PORCHLIGHT_PORT", "must be an integer")
    assert (error.setting, error.problem) == ("PORCHLIGHT_PORT", "must be an integer")
    assert str(error) == "PORCHLIGHT_PORT: must be an integer"


def test_the_timezone_must_be_a_real_zone(tmp_path: Path) -> None:
    assert load(tmp_path, PORCHLIGHT_TIMEZONE="America/Chicago").timezone == "America/Chicago"
    problem = problem_with(tmp_path, PORCHLIGHT_TIMEZONE="Mars/Olympus")
    assert problem.setting == "PORCHLIGHT_TIMEZONE"
    assert "IANA time zone" in str(problem)
