"""`mdmtui linkage ...`: secrets from prompt/stdin/env only, --json listings, remove asks about devices."""

from __future__ import annotations

import io
import json
import sys

import pytest

from mdmtui import cli
from mdmtui.storage.models import Device, Linkage
from mdmtui.secrets import SecretBox
from mdmtui.services.context import open_context

from mdmtui_testing import make_settings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
SDM_ADD = ["linkage", "add", "SDM 01", "--system", "sdm", "--server", "https://sdm01.example.jp", "--user", "admin"]


class Tty(io.StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(argv, capsys, monkeypatch, stdin=None):
    monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else io.StringIO(""))
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def stored_password(tmp_path, name="SDM 01") -> str:
    ctx = open_context(make_settings(tmp_path))
    try:
        return SecretBox(ctx.settings.key_file).decrypt(Linkage.get(Linkage.name == name).password_enc).reveal()
    finally:
        ctx.db.close()


def test_add_reads_password_from_stdin(tmp_path, capsys, monkeypatch):
    status, out, _ = run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("s3cret\n"))
    assert status == 0 and out == "linkage 'SDM 01' added (sdm, https://sdm01.example.jp:26055)\n"
    assert stored_password(tmp_path) == "s3cret"


def test_add_reads_password_from_named_env(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SDM_PW", "from-env")
    assert run([*SDM_ADD, "--password-env", "SDM_PW"], capsys, monkeypatch)[0] == 0
    assert stored_password(tmp_path) == "from-env"


def test_add_prompts_without_echo_on_a_terminal(tmp_path, capsys, monkeypatch):
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "typed")
    assert run(SDM_ADD, capsys, monkeypatch, Tty(""))[0] == 0
    assert prompts == ["MDM password: "] and stored_password(tmp_path) == "typed"


def test_add_without_secret_and_without_terminal_is_usage_error(capsys, monkeypatch):
    status, _, err = run(SDM_ADD, capsys, monkeypatch)
    assert status == 2
    assert err == ("mdmtui: sdm linkages need a password: give it with --password-stdin, --password-env VAR, "
                   "or run on a terminal to be asked\n")


def test_unset_env_var_is_usage_error(capsys, monkeypatch):
    status, _, err = run([*SDM_ADD, "--password-env", "NOPE_UNSET"], capsys, monkeypatch)
    assert status == 2 and err == "mdmtui: --password-env: environment variable NOPE_UNSET is not set\n"


def test_two_secrets_from_stdin_refused(capsys, monkeypatch):
    status, _, err = run([*SDM_ADD, "--password-stdin", "--proxy", "http://p:3128", "--proxy-user", "u",
                          "--proxy-password-stdin"], capsys, monkeypatch, io.StringIO("a\nb\n"))
    assert status == 2 and "only one secret can be read from stdin" in err


def test_validation_error_is_one_line_exit_one(capsys, monkeypatch):
    monkeypatch.setenv("PW", "x")
    status, _, err = run(["linkage", "add", "bad", "--system", "sdm", "--server", "https://sdm_01", "--user", "u",
                          "--password-env", "PW"], capsys, monkeypatch)
    assert status == 1
    assert err == ("mdmtui: invalid linkage settings: server URL: the host name 'sdm_01' contains an underscore, "
                   "which MDM server host names may not contain\n")


def test_list_and_show_json(capsys, monkeypatch):
    monkeypatch.setenv("CS", "client-secret")
    run(["linkage", "add", "Intune 本社", "--system", "intune", "--tenant-id", TENANT, "--client-id", CLIENT,
         "--client-secret-env", "CS", "--interval", "weekly", "--start-at", "2026-12-01T09:00",
         "--weekdays", "mon,thu"], capsys, monkeypatch)
    status, out, _ = run(["linkage", "list", "--json"], capsys, monkeypatch)
    rows = json.loads(out)
    assert status == 0 and [r["name"] for r in rows] == ["Intune 本社"]
    assert rows[0]["client_secret"] == "********" and rows[0]["devices"] == 0
    assert rows[0]["schedule"]["weekdays"] == [0, 3]
    shown = json.loads(run(["linkage", "show", "Intune 本社", "--json"], capsys, monkeypatch)[1])
    assert shown["server_url"] == "https://graph.microsoft.com" and shown["tenant_id"] == TENANT
    status, out, _ = run(["linkage", "list"], capsys, monkeypatch)
    assert "every week on mon,thu from 2026-12-01T09:00" in out and "Intune 本社" in out


def test_list_empty_says_how_to_add(capsys, monkeypatch):
    assert run(["linkage", "list"], capsys, monkeypatch)[1].startswith("no linkages yet")
    assert json.loads(run(["linkage", "list", "--json"], capsys, monkeypatch)[1]) == []


def test_edit_changes_settings_and_keeps_password(tmp_path, capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("keep-me\n"))
    status, out, _ = run(["linkage", "edit", "SDM 01", "--timeout", "300", "--disabled", "--rename", "SDM 東京"],
                         capsys, monkeypatch)
    assert status == 0 and out.startswith("linkage 'SDM 東京' updated:")
    shown = json.loads(run(["linkage", "show", "SDM 東京", "--json"], capsys, monkeypatch)[1])
    assert shown["timeout_s"] == 300 and shown["enabled"] is False
    assert stored_password(tmp_path, "SDM 東京") == "keep-me"


def test_edit_clears_an_optional_setting(capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin", "--sdm-version", "11-00-04", "--page-size", "100"], capsys, monkeypatch,
        io.StringIO("pw\n"))
    assert run(["linkage", "edit", "SDM 01", "--page-size", "0"], capsys, monkeypatch)[0] == 1  # out of range
    assert run(["linkage", "edit", "SDM 01", "--sdm-version", ""], capsys, monkeypatch)[0] == 0
    shown = json.loads(run(["linkage", "show", "SDM 01", "--json"], capsys, monkeypatch)[1])
    assert shown["sdm_version"] is None and shown["page_size"] == 100  # the refused edit lost nothing


def _with_device(tmp_path):
    ctx = open_context(make_settings(tmp_path))
    Device.create(linkage=Linkage.get(), linkage_name="SDM 01", mdm_device_id="d1", os_class="Si")
    ctx.db.close()


def test_remove_keep(tmp_path, capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("pw\n"))
    _with_device(tmp_path)
    status, out, _ = run(["linkage", "remove", "SDM 01", "--devices", "keep"], capsys, monkeypatch)
    assert status == 0 and out == "linkage 'SDM 01' removed; 1 device(s) kept, marked orphaned\n"


def test_remove_delete_needs_confirmation_off_terminal(tmp_path, capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("pw\n"))
    _with_device(tmp_path)
    status, _, err = run(["linkage", "remove", "SDM 01", "--devices", "delete"], capsys, monkeypatch)
    assert status == 2 and err == "mdmtui: deleting 1 device(s) needs confirmation: add --yes\n"
    status, out, _ = run(["linkage", "remove", "SDM 01", "--devices", "delete", "--yes"], capsys, monkeypatch)
    assert status == 0 and out.endswith("1 device(s) deleted\n")


def test_remove_delete_typed_name_must_match(tmp_path, capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("pw\n"))
    _with_device(tmp_path)
    status, out, _ = run(["linkage", "remove", "SDM 01", "--devices", "delete"], capsys, monkeypatch,
                         Tty("SDM 02\n"))
    assert status == 1 and "not removed" in out
    assert json.loads(run(["linkage", "list", "--json"], capsys, monkeypatch)[1])[0]["devices"] == 1


def test_rotate_key_command(tmp_path, capsys, monkeypatch):
    run([*SDM_ADD, "--password-stdin"], capsys, monkeypatch, io.StringIO("survives\n"))
    status, out, _ = run(["linkage", "rotate-key"], capsys, monkeypatch)
    assert status == 0 and "1 stored secret(s) re-encrypted" in out
    assert stored_password(tmp_path) == "survives"


def test_test_unknown_linkage(capsys, monkeypatch):
    status, _, err = run(["linkage", "test", "ghost"], capsys, monkeypatch)
    assert status == 1 and err.startswith("mdmtui: no linkage named 'ghost'")


@pytest.mark.parametrize("option", ["--password", "--client-secret", "--proxy-password"])
def test_no_option_takes_a_secret_value(option, capsys, monkeypatch):
    with pytest.raises(SystemExit) as info:
        cli.main([*SDM_ADD, option, "plaintext"])
    assert info.value.code == 2


def test_add_reports_every_bad_setting_at_once(tmp_path, capsys, monkeypatch):
    argv = ["linkage", "add", "SDM 02", "--system", "sdm", "--server", "https://sdm_core.example.jp:99999",
            "--sdm-version", "v11", "--user", "admin", "--password-stdin"]
    status, out, err = run(argv, capsys, monkeypatch, io.StringIO("s3cret\n"))
    assert status != 0 and out == ""
    assert "underscore" in err and "99999" in err and "11-00-04" in err  # all three, in one message
    assert len(err.strip().splitlines()) == 1
