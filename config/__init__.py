"""Settings: one frozen, validated object loaded once from TOML and PORCHLIGHT_* env."""

from config.describe import describe_settings, format_settings
from config.errors import ConfigError
from config.loader import decode_master_key, load_settings
from config.settings import SETTING_NAMES, Secret, Settings

__all__ = [
    "SETTING_NAMES",
    "ConfigError",
    "Secret",
    "Settings",
    "decode_master_key",
    "describe_settings",
    "format_settings",
    "load_settings",
]
