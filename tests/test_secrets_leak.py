"""A secret entered for a linkage never appears in the database, the logs or the CLI output."""

from __future__ import annotations

import io
import sys

import pytest

from mdmtui import cli
from mdmtui.storage.models import AuditEvent, Linkage
from mdmtui.services import linkages

PASSWORD = "Pw-SDM-4f9c1e"
PROXY_PASSWORD = "Pw-PROXY-77ab02"
CLIENT_SECRET = "Cs-INTUNE-9d3e5a~x"
NEW_PASSWORD = "Pw-NEW-2b8d44"
ALL_SECRETS = (PASSWORD, PROXY_PASSWORD, CLIENT_SECRET, NEW_PASSWORD)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"


def run(argv: list[str], capsys, monkeypatch, stdin: str = "") -> tuple[int, str]:
    """Run the CLI in-process; returns (status, stdout + stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out + out.err


def assert_no_secret(text: str | bytes, where: str) -> None:
    for secret in ALL_SECRETS:
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"a secret leaked into {where}"


def test_secrets_never_leak_through_cli_db_or_logs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROXY_PW", PROXY_PASSWORD)
    monkeypatch.setenv("NEW_PW", NEW_PASSWORD)
    real_config = linkages.linkage_config

    def one_try(ctx, linkage):  # the failing connection test should fail at once, not after backoffs
        config = real_config(ctx, linkage)
        config.extra["retry"] = {"attempts": 1}
        return config

    monkeypatch.setattr(linkages, "linkage_config", one_try)
    outputs = [
        run(["-v", "linkage", "add", "SDM 01", "--system", "sdm", "--server", "https://127.0.0.1:1",
             "--user", "admin", "--password-stdin", "--proxy", "http://127.0.0.1:2", "--proxy-user", "bob",
             "--proxy-password-env", "PROXY_PW", "--timeout", "2"], capsys, monkeypatch, PASSWORD + "\n"),
        run(["linkage", "add", "Intune", "--system", "intune", "--tenant-id", TENANT, "--client-id", CLIENT,
             "--client-secret-stdin"], capsys, monkeypatch, CLIENT_SECRET + "\n"),
    ]
    assert [status for status, _ in outputs] == [0, 0], outputs
    for argv in (["linkage", "show", "SDM 01"], ["linkage", "show", "SDM 01", "--json"],
                 ["linkage", "show", "Intune", "--json"], ["linkage", "list"], ["linkage", "list", "--json"]):
        outputs.append(run(argv, capsys, monkeypatch))
    # failures log tracebacks: an invalid edit carrying a new secret, a connection test that fails
    outputs.append(run(["-v", "linkage", "edit", "SDM 01", "--page-size", "9999", "--password-env", "NEW_PW"],
                       capsys, monkeypatch))
    outputs.append(run(["-v", "linkage", "test", "SDM 01"], capsys, monkeypatch))
    assert outputs[-2][0] == 1 and "page size for sdm must be 1 to 500" in outputs[-2][1]
    assert outputs[-1][0] == 1 and "cannot connect" in outputs[-1][1], outputs[-1]
    assert "********" in outputs[2][1]  # show says a password is set, without showing it
    for _status, text in outputs:
        assert_no_secret(text, "CLI output")

    data = tmp_path / "data"
    files = [data / "mdmtui.db", data / "mdmtui.db-wal", data / "mdmtui.log", data / "audit.log"]
    assert (data / "mdmtui.db").exists() and (data / "mdmtui.log").exists()
    for path in files:
        if path.exists():
            assert_no_secret(path.read_bytes(), path.name)
    assert b"SDM 01" in b"".join(p.read_bytes() for p in files[:2] if p.exists())  # the rows are there


def test_secrets_stored_encrypted_on_both_databases(ctx):
    linkages.create(ctx, {"name": "MI", "system": "mobileiron", "server_url": "https://core", "user": "api",
                          "password": PASSWORD, "proxy_url": "http://proxy:3128", "proxy_user": "bob",
                          "proxy_password": PROXY_PASSWORD})
    linkages.update(ctx, "MI", password=NEW_PASSWORD)
    rows = ctx.db.execute_sql('SELECT * FROM "linkage"').fetchall()
    rows += ctx.db.execute_sql('SELECT * FROM "audit_event"').fetchall()
    assert_no_secret(repr(rows), "the database")
    stored = Linkage.get()
    assert stored.password_enc and stored.proxy_password_enc
    assert AuditEvent.select().count() == 2


def test_linkage_config_and_describe_hide_secrets(ctx):
    linkage = linkages.create(ctx, {"name": "Intune", "system": "intune", "tenant_id": TENANT,
                                    "client_id": CLIENT, "client_secret": CLIENT_SECRET})
    config = linkages.linkage_config(ctx, linkage)
    assert config.client_secret.reveal() == CLIENT_SECRET
    assert_no_secret(repr(config), "repr(LinkageConfig)")
    assert_no_secret(str(config), "str(LinkageConfig)")
    assert_no_secret(repr(linkages.describe(linkage)), "describe()")


def test_validation_error_does_not_echo_a_secret():
    with pytest.raises(Exception) as info:
        linkages.validate({"name": "x", "system": "sdm", "server_url": "https://s", "user": "u",
                           "password": PASSWORD, "page_size": "lots"})
    assert_no_secret(str(info.value), "a validation message")


def test_no_secret_option_takes_a_value_on_the_command_line(capsys):
    parser = cli.build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["linkage", "add", "x", "--system", "sdm", "--password", PASSWORD])
    assert info.value.code == 2
