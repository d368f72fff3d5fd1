"""Settings: defaults, config.toml, MDMTUI_* variables (which win), and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdmtui.config import config_file_path, load_settings
from mdmtui.errors import ConfigurationError


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_use_the_data_dir(tmp_path):
    settings = load_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.database == f"sqlite:///{tmp_path / 'data' / 'mdmtui.db'}"
    assert settings.key_file == tmp_path / "config" / "secret.key"
    assert settings.properties_path == tmp_path / "config" / "sdm_import.properties"
    assert settings.log_file == tmp_path / "data" / "mdmtui.log"


def test_config_file_values_are_read(tmp_path):
    write_config(tmp_path, 'stale_days = 14\ntheme = "ansi-dark"\n[keymap]\ncollect = "ctrl+r"\n')
    settings = load_settings()
    assert settings.stale_days == 14 and settings.theme == "ansi-dark" and settings.keymap == {"collect": "ctrl+r"}


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    write_config(tmp_path, "stale_days = 14\n")
    monkeypatch.setenv("MDMTUI_STALE_DAYS", "7")
    assert load_settings().stale_days == 7


def test_database_url_from_environment(monkeypatch):
    monkeypatch.setenv("MDMTUI_DATABASE_URL", "postgresql://mdm@db.example.com/mdmtui")
    assert load_settings().database == "postgresql://mdm@db.example.com/mdmtui"


def test_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("MDMTUI_DATABASE_URL", "postgresql://a@h/x")
    assert load_settings(database_url="sqlite:////tmp/x.db").database == "sqlite:////tmp/x.db"


def test_explicit_config_path(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.toml"
    other.write_text("read_only = true\n", encoding="utf-8")
    monkeypatch.setenv("MDMTUI_CONFIG", str(other))
    assert config_file_path() == other and load_settings().read_only is True


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.delenv("MDMTUI_DATA_DIR")
    write_config(tmp_path, 'data_dir = "~/mdm-data"\n')
    assert load_settings().data_dir == tmp_path / "home" / "mdm-data"


@pytest.mark.parametrize("text, expected", [
    ("stale_days = \n", "config.toml: not valid TOML: Invalid value (at line 1, column 14)"),
    ("stale_days = 0\n", "invalid settings: {path}: stale_days: Input should be greater than or equal to 1"),
    ('colour = "red"\n', "invalid settings: {path}: unknown setting 'colour'"),
    ('database_url = "mysql://x"\n',
     "invalid settings: {path}: database_url: must start with sqlite:/// or postgresql://"),
    ("collect_concurrency = 99\n",
     "invalid settings: {path}: collect_concurrency: Input should be less than or equal to 32"),
])
def test_config_file_errors_are_one_clear_line(tmp_path, text, expected):
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert expected.format(path=path) in message and "\n" not in message


def test_config_file_not_utf8(tmp_path):
    path = write_config(tmp_path, "")
    path.write_bytes(b'theme = "\xff"\n')
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings()


@pytest.mark.parametrize("name, value, expected", [
    ("MDMTUI_STALE_DAYS", "abc", "MDMTUI_STALE_DAYS: Input should be a valid integer"),
    ("MDMTUI_STALE_DAYS", "0", "MDMTUI_STALE_DAYS: Input should be greater than or equal to 1"),
    ("MDMTUI_READ_ONLY", "perhaps", "MDMTUI_READ_ONLY: Input should be a valid boolean"),
    ("MDMTUI_DATABASE_URL", "mysql://x", "MDMTUI_DATABASE_URL: must start with sqlite:/// or postgresql://"),
    ("MDMTUI_KEYMAP", "not json", 'invalid MDMTUI_* environment variable: error parsing value for field "keymap"'),
])
def test_environment_errors_are_one_clear_line(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert expected in str(info.value) and "\n" not in str(info.value)
