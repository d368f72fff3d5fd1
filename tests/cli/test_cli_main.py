"""The CLI skeleton: --help everywhere, exit status 0/1/2, one-line errors, tracebacks only in the log."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from mdmtui import cli
from mdmtui.errors import ConfigurationError, MdmtuiError


def all_command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand path of the parser, found by walking it."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += all_command_paths(sub, (*prefix, name))
    return paths


PATHS = all_command_paths(cli.build_parser())


def test_the_walk_finds_the_linkage_commands():
    assert {("linkage",), ("linkage", "add"), ("linkage", "remove"), ("linkage", "rotate-key")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "mdmtui")
def test_help_exits_zero(path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*path, "--help"])
    assert info.value.code == 0
    assert "usage: mdmtui" in capsys.readouterr().out


def test_every_present_command_module_registers():
    for name in cli.COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not built yet
            raise
        assert callable(cli.registrar(name)), f"{name} has no {cli.REGISTRARS.get(name, 'register')}()"


@pytest.mark.parametrize("argv", [
    ["no-such-command"],
    ["linkage", "remove", "x"],  # --devices is required
    ["linkage", "add", "x", "--system", "airwatch"],
    ["linkage", "add", "x", "--system", "sdm", "--timeout", "soon"],
    ["linkage", "edit", "x", "--weekdays", "someday"],
])
def test_bad_usage_exits_two_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 + sum(line.startswith("usage:") for line in err)  # a usage line at most, then one
    assert err[-1].startswith("mdmtui") and "error:" in err[-1] and err[-1].endswith("(see --help)")


def test_group_without_subcommand_is_bad_usage(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["linkage"])
    assert info.value.code == 2


def test_usage_error_from_a_handler_exits_two(capsys):
    status = cli.main(["linkage", "edit", "x"])  # nothing to change
    assert status == 2
    assert capsys.readouterr().err == "mdmtui: nothing to change: give at least one setting " \
                                      "(see mdmtui linkage edit --help)\n"


def test_mdmtui_error_is_one_line_and_traceback_only_in_log(tmp_path, capsys):
    status = cli.main(["linkage", "show", "ghost"])
    assert status == 1
    captured = capsys.readouterr()
    assert captured.err == "mdmtui: no linkage named 'ghost'; there are no linkages yet (mdmtui linkage add)\n"
    assert "Traceback" not in captured.out + captured.err
    log = (tmp_path / "data" / "mdmtui.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "NotFoundError" in log


def test_unexpected_exception_is_one_line_with_log_path(tmp_path, capsys, monkeypatch):
    def boom(args):
        raise KeyError("surprise")

    monkeypatch.setattr("mdmtui.cli.linkage.run_list", boom)
    status = cli.main(["linkage", "list"])
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mdmtui: unexpected error: KeyError: 'surprise' (details in ")
    assert str(tmp_path / "data" / "mdmtui.log") in err
    assert "KeyError: 'surprise'" in (tmp_path / "data" / "mdmtui.log").read_text(encoding="utf-8")


def test_multiline_error_is_squeezed_to_one_line(capsys):
    def fail(args):
        raise ConfigurationError("first line\nsecond line")

    assert cli.run_handler(fail, argparse.Namespace()) == 1
    assert capsys.readouterr().err == "mdmtui: first line second line\n"


def test_error_exit_codes_follow_the_error(capsys):
    class Custom(MdmtuiError):
        exit_code = 2

    def fail(args):
        raise Custom("bad form")

    assert cli.run_handler(fail, argparse.Namespace()) == 2


def test_malformed_config_toml_is_one_line(tmp_path, capsys):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text("stale_days = \n", encoding="utf-8")
    assert cli.main(["linkage", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"mdmtui: {tmp_path / 'config' / 'config.toml'}: not valid TOML: Invalid value")


def test_bad_stale_days_env_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MDMTUI_STALE_DAYS", "many")
    assert cli.main(["linkage", "list"]) == 1
    assert capsys.readouterr().err == (
        "mdmtui: invalid settings: MDMTUI_STALE_DAYS: Input should be a valid integer, "
        "unable to parse string as an integer\n")


def test_bad_database_url_option_is_one_line(capsys):
    assert cli.main(["--database", "mysql://u:pw@h/db", "linkage", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mdmtui: invalid settings: MDMTUI_DATABASE_URL: must start with sqlite:/// or "
                          "postgresql://") and "pw" not in err.replace("postgresql", "")


def test_read_only_flag_refuses_changes(capsys, monkeypatch):
    monkeypatch.setenv("PW", "x")
    status = cli.main(["--read-only", "linkage", "add", "a", "--system", "sdm", "--server", "https://s",
                       "--user", "u", "--password-env", "PW"])
    assert status == 1
    assert capsys.readouterr().err == "mdmtui: read-only mode: cannot add a linkage\n"


def test_console_script_runs_in_a_subprocess(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MDMTUI_DATA_DIR": str(tmp_path / "d"),
           "MDMTUI_CONFIG_DIR": str(tmp_path / "c")}
    done = subprocess.run([sys.executable, "-m", "mdmtui", "linkage", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
