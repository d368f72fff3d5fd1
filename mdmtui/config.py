"""Application settings: pydantic settings with ``MDMTUI_`` environment variables and a TOML file."""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from mdmtui.errors import ConfigurationError

APP_NAME = "mdmtui"


def default_data_dir() -> Path:
    """The platform's per-user data directory (``~/.local/share/mdmtui`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_dir() -> Path:
    """The platform's per-user config directory (``~/.config/mdmtui`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """Everything configurable outside the database. Env vars win over the config file."""

    model_config = SettingsConfigDict(env_prefix="MDMTUI_", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    config_dir: Path = Field(default_factory=default_config_dir)
    database_url: str | None = None  # None: SQLite file in data_dir
    read_only: bool = False  # refuse every state-changing command
    stale_days: int = Field(default=30, ge=1)  # "not seen for N days" security flag
    theme: str = "textual-dark"
    keymap: dict[str, str] = Field(default_factory=dict)  # binding id -> keys
    sdm_properties_path: Path | None = None  # None: config_dir/sdm_import.properties
    secret_key_file: Path | None = None  # None: config_dir/secret.key
    collect_concurrency: int = Field(default=4, ge=1, le=32)
    # days over which facts only a per-device call gives (MobileIron passcode state, software) are
    # refreshed for the whole fleet, a 1/N share per day (connectors/churn.py)
    refresh_days: int = Field(default=7, ge=1, le=90)
    action_concurrency: int = Field(default=16, ge=1, le=64)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value and not value.split(":", 1)[0] in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("data_dir", "config_dir", "sdm_properties_path", "secret_key_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @cached_property
    def database(self) -> str:
        """The effective database URL."""
        return self.database_url or f"sqlite:///{self.data_dir / 'mdmtui.db'}"

    @property
    def log_file(self) -> Path:
        """The log file in the data directory."""
        return self.data_dir / "mdmtui.log"

    @property
    def audit_log_file(self) -> Path:
        """The audit mirror, one JSON line per audit event."""
        return self.data_dir / "audit.log"

    @property
    def properties_path(self) -> Path:
        """Where sdm_import.properties is read and written."""
        return self.sdm_properties_path or self.config_dir / "sdm_import.properties"

    @property
    def key_file(self) -> Path:
        """The file holding the key that encrypts MDM secrets at rest."""
        return self.secret_key_file or self.config_dir / "secret.key"


def config_file_path() -> Path:
    """The TOML config file: ``$MDMTUI_CONFIG`` or ``config_dir/config.toml``."""
    explicit = os.environ.get("MDMTUI_CONFIG")
    if explicit:
        return Path(explicit)
    config_dir = os.environ.get("MDMTUI_CONFIG_DIR")
    return (Path(config_dir) if config_dir else default_config_dir()) / "config.toml"


def load_settings(**overrides) -> Settings:
    """Load settings from the config file, then the environment, then ``overrides``."""
    path = config_file_path()
    from_file = _read_config_file(path)
    env_keys = {k[len("MDMTUI_"):].lower() for k in os.environ if k.startswith("MDMTUI_")}
    merged = {k: v for k, v in from_file.items() if k not in env_keys}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigurationError(_settings_message(path, set(from_file), exc)) from None
    except SettingsError as exc:  # an environment value pydantic-settings could not even parse
        raise ConfigurationError(f"invalid MDMTUI_* environment variable: {_one_line(exc)}") from None


def _read_config_file(path: Path) -> dict:
    """The TOML config file's table, or {} when there is none."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {_one_line(exc)}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None


def _settings_message(path: Path, file_keys: set[str], exc: ValidationError) -> str:
    """One line naming, for each problem, where the bad value came from."""
    parts = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        where = f"{path}: {key}" if key in file_keys else f"MDMTUI_{key.upper()}"
        if error["type"] == "extra_forbidden":
            parts.append(f"{path}: unknown setting '{key}'")
        else:
            parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "invalid settings: " + "; ".join(parts)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
