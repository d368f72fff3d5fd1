"""Application settings: pydantic settings with ``MDMTUI_`` environment variables and a TOML file."""

from __future__ import annotations

import os
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from mdmtui.errors import ConfigurationError

APP_NAME = "mdmtui"


def default_data_dir() -> Path:
    """The platform's per-user data directory (``~/.local/share/mdmtui`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_dir() -> Path:
    """The platform's per-user config directory (``~/.config/mdmtui`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


ROLE_NAMES = ("viewer", "operator", "admin")
TWO_PERSON_ACTIONS = ("lock", "wipe", "reset_passcode")


class RoleSettings(BaseModel):
    """``[roles]`` in config.toml: OS groups and users mapped to roles, and the two-person rule.

    Nothing mapped means roles are off: every OS user is admin, as before roles existed.
    """

    model_config = ConfigDict(extra="forbid")

    groups: dict[str, str] = Field(default_factory=dict)  # OS group name -> role
    users: dict[str, str] = Field(default_factory=dict)  # OS user name -> role (wins over groups)
    default: str = "viewer"  # the role of an OS user no mapping names (when roles are on)
    # action -> whether it needs a second admin's approval; unset: on for wipe once roles are on
    two_person: dict[str, bool] = Field(default_factory=dict)
    request_expiry_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    @field_validator("groups", "users")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for name, role in value.items():
            if role not in ROLE_NAMES:
                raise ValueError(f"{name!r}: unknown role {role!r}; use one of {', '.join(ROLE_NAMES)}")
        return value

    @field_validator("default")
    @classmethod
    def _known_default(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"unknown role {value!r}; use one of {', '.join(ROLE_NAMES)}")
        return value

    @field_validator("two_person")
    @classmethod
    def _known_actions(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(TWO_PERSON_ACTIONS))
        if unknown:
            raise ValueError(f"unknown action(s) {', '.join(unknown)}; use {', '.join(TWO_PERSON_ACTIONS)}")
        return value

    @property
    def configured(self) -> bool:
        """True when some group or user is mapped (roles are enforced)."""
        return bool(self.groups or self.users)


class ConsoleSettings(BaseModel):
    """``[console]`` in config.toml: what the console remembers of the admin's choices."""

    model_config = ConfigDict(extra="forbid")

    # the Devices screen's columns after Name, in order, by key (None: the default set); written by the
    # console's column chooser (o), see screens/devices.py for the keys
    device_columns: list[str] | None = None


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) with a new last directory readable by its owner only.

    An existing directory keeps its mode: it may be shared on purpose; the files mdmtui keeps in it
    are private themselves.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_private(path: Path, mode: str = "a", encoding: str | None = "utf-8", errors: str | None = None):
    """Open a text file for writing, created 0600; an existing one readable by others is tightened to 0600.

    The log and the audit mirror hold device and user names: as private as the database and the key.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        return open(fd, mode, encoding=encoding, errors=errors)
    except BaseException:
        os.close(fd)
        raise


class Settings(BaseSettings):
    """Everything configurable outside the database. Env vars win over the config file."""

    model_config = SettingsConfigDict(env_prefix="MDMTUI_", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    config_dir: Path = Field(default_factory=default_config_dir)
    database_url: str | None = None  # None: SQLite file in data_dir
    read_only: bool = False  # refuse every state-changing command
    # send commands to devices whose MDM profile was removed (or retired, wiped...) anyway; they are then
    # recorded failed with that reason, never succeeded (the MDM's answer cannot prove anything)
    send_to_unmanaged: bool = False
    stale_days: int = Field(default=30, ge=1)  # "not seen for N days" security flag
    theme: str = "textual-dark"
    keymap: dict[str, str] = Field(default_factory=dict)  # binding id -> keys
    sdm_properties_path: Path | None = None  # None: config_dir/sdm_import.properties
    secret_key_file: Path | None = None  # None: config_dir/secret.key
    collect_concurrency: int = Field(default=4, ge=1, le=32)
    # days over which facts only a per-device call gives (MobileIron passcode state, software) are
    # refreshed for the whole fleet, a 1/N share per day (connectors/churn.py)
    refresh_days: int = Field(default=7, ge=1, le=90)
    # Intune: how a collection reads the fleet (connectors/intune.py). auto takes the export route (one
    # DevicesWithInventory export job for ICCID and Ethernet MAC) when the linkage's inventory holds
    # at least intune_export_threshold devices; a job not completed within intune_export_wait_s
    # (or failed, or its file expired) falls back to the list route with a warning.
    intune_route: Literal["auto", "list", "export"] = "auto"
    intune_export_threshold: int = Field(default=5000, ge=0)
    intune_export_wait_s: float = Field(default=600, ge=1, le=7200)
    action_concurrency: int = Field(default=16, ge=1, le=64)
    roles: RoleSettings = Field(default_factory=RoleSettings)  # see services/roles.py
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    _config_file: Path | None = PrivateAttr(default=None)  # the file these were read from (load_settings)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value and value.split(":", 1)[0] not in {"sqlite", "postgresql", "postgres"}:
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
    def config_file(self) -> Path:
        """The TOML file the console writes its remembered choices back to."""
        return self._config_file or self.config_dir / "config.toml"

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
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigurationError(_settings_message(path, set(from_file), exc)) from None
    except SettingsError as exc:  # an environment value pydantic-settings could not even parse
        raise ConfigurationError(f"invalid MDMTUI_* environment variable: {_one_line(exc)}") from None
    settings._config_file = path
    return settings


def save_console_setting(settings: Settings, key: str, value: list[str]) -> Path:
    """Write ``[console] key = value`` into the config file, keeping every other line (comments too).

    Only the one setting's line is replaced (or added, with the ``[console]`` table when missing); the
    result is parsed again and must hold exactly the old settings plus this one, else nothing is
    written. The file is replaced atomically and stays private (0600). Updates ``settings`` as well.
    """
    if key not in ConsoleSettings.model_fields:
        raise ConfigurationError(f"unknown console setting '{key}'")
    path = settings.config_file
    try:
        old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {_one_line(exc)}") from None
    old = _read_config_file(path) if old_text else {}
    new_text = _with_console_line(old_text, key, f"{key} = {_toml_strings(value)}")
    expected = {**old, "console": {**old.get("console", {}), key: list(value)}}
    try:
        written = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        written = None
    if written != expected:
        raise ConfigurationError(f"{path}: cannot update [console] {key} without changing other settings; "
                                 f"set it by hand: {key} = {_toml_strings(value)}")
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open_private(temporary, "w") as out:
            out.write(new_text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from None
    setattr(settings.console, key, list(value))
    return path


def _toml_strings(values: list[str]) -> str:
    """A TOML array of basic strings (JSON's string escapes are TOML's)."""
    import json

    return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in values) + "]"


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _with_console_line(text: str, key: str, line: str) -> str:
    """``text`` with ``key``'s line in ``[console]`` replaced by ``line`` (or added)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if (m := _TABLE.match(ln)) and m.group(1) == "console"), None)
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{tail}{'' if not text else chr(10)}[console]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    at = next((i for i in range(start + 1, end) if assignment.match(lines[i])), None)
    if at is None:
        lines.insert(start + 1, line)
    else:
        stop = at + 1
        depth = lines[at].count("[") - lines[at].count("]")
        while depth > 0 and stop < end:  # an array written over several lines
            depth += lines[stop].count("[") - lines[stop].count("]")
            stop += 1
        lines[at:stop] = [line]
    return "\n".join(lines) + "\n"


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
