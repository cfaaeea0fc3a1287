from pathlib import Path

import pytest

from config import ConfigError, Secret
from tests.factories import make_settings

KEY = "c2VjcmV0LWNhbmFyeS1rZXktMzItYnl0ZXMtbG9uZyE="


def test_overrides_are_written_as_an_operator_would_write_them(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        port=9000,
        master_key=Secret(KEY),
        totp_required_roles=("admin", "advocate"),
        twilio_from=None,
        public_url="https://chat.example.org/",
    )
    assert settings.data_dir == tmp_path
    assert settings.port == 9000
    assert settings.master_key == Secret(KEY)
    assert settings.totp_required_roles == ("admin", "advocate")
    assert settings.twilio_from is None
    assert settings.public_url == "https://chat.example.org"


def test_an_empty_tuple_means_no_roles(tmp_path: Path) -> None:
    assert make_settings(tmp_path, totp_required_roles=()).totp_required_roles == ()


def test_the_factory_validates_like_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PORCHLIGHT_PORT"):
        make_settings(tmp_path, port=0)
    with pytest.raises(ConfigError, match="did you mean PORCHLIGHT_PORT"):
        make_settings(tmp_path, prot=8080)


def test_the_developers_environment_does_not_leak_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORCHLIGHT_PORT", "1234")
    monkeypatch.setenv("PORCHLIGHT_CONFIG", str(tmp_path / "missing.toml"))
    assert make_settings(tmp_path).port == 8080
