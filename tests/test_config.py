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


def test_console_setting_is_written_back_keeping_comments_and_other_settings(tmp_path):
    import os

    from mdmtui.config import save_console_setting

    path = write_config(tmp_path, '# my settings\nstale_days = 14  # two weeks\n\n[console]\n# columns\n'
                                  'device_columns = [\n  "imei",\n  "phone_number",\n]\n\n[keymap]\ncollect = "ctrl+r"\n')
    settings = load_settings()
    assert settings.console.device_columns == ["imei", "phone_number"]
    save_console_setting(settings, "device_columns", ["user_name", "資産"])
    text = path.read_text(encoding="utf-8")
    assert "# my settings" in text and "stale_days = 14  # two weeks" in text and "# columns" in text
    assert 'device_columns = ["user_name", "資産"]' in text and '"phone_number"' not in text
    again = load_settings()
    assert again.console.device_columns == ["user_name", "資産"] and again.keymap == {"collect": "ctrl+r"}
    assert settings.console.device_columns == ["user_name", "資産"]
    assert os.stat(path).st_mode & 0o077 == 0


def test_console_setting_adds_its_table_to_a_file_without_one_or_to_no_file(tmp_path):
    from mdmtui.config import save_console_setting

    settings = load_settings()  # no file yet
    save_console_setting(settings, "device_columns", ["imei"])
    assert load_settings().console.device_columns == ["imei"]
    path = write_config(tmp_path, 'theme = "nord"\n[roles]\ndefault = "operator"')  # no final newline
    save_console_setting(load_settings(), "device_columns", ['a "quoted" \\ one'])
    settings = load_settings()
    assert settings.console.device_columns == ['a "quoted" \\ one'] and settings.roles.default == "operator"
    assert path.read_text(encoding="utf-8").startswith('theme = "nord"\n[roles]\ndefault = "operator"\n')


def test_console_setting_refuses_to_write_when_it_would_change_other_settings(tmp_path):
    from mdmtui.config import save_console_setting

    text = 'theme = "nord"\nconsole.device_columns = ["imei"]  # a dotted key: no [console] line to edit\n'
    path = write_config(tmp_path, text)
    settings = load_settings()
    assert settings.console.device_columns == ["imei"]
    with pytest.raises(ConfigurationError, match="set it by hand"):
        save_console_setting(settings, "device_columns", ["udid"])
    assert path.read_text(encoding="utf-8") == text
