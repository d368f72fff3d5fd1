"""Error lines that name the real cause: a file that is no database, a relative SQLite URL, a host that does
not resolve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mdmtui.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_a_file_that_is_no_database_is_not_blamed_on_another_process(capsys, tmp_path):
    for name, content in (("random.db", os.urandom(8192)), ("notes.db", b"meeting notes\n" * 300)):
        path = tmp_path / name
        path.write_bytes(content)
        code, err = run(capsys, "--database", f"sqlite:///{path}", "devices", "list")
        assert code == 1
        assert err.startswith(f"mdmtui: {path} is not an mdmtui database (or is corrupt): file is not a database")
        assert "another" not in err and len(err.splitlines()) == 1
        assert path.read_bytes() == content  # nothing written into it


def test_a_relative_sqlite_url_is_refused_naming_the_absolute_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, "--database", "sqlite:///inventory.db", "devices", "list")
    assert code == 1
    assert err.strip() == ("mdmtui: SQLite URL 'sqlite:///inventory.db' names a relative path, which depends on the "
                           f"current directory: give an absolute one, e.g. sqlite:///{tmp_path / 'inventory.db'}")
    assert not (tmp_path / "inventory.db").exists()


@pytest.mark.timing
def test_a_host_that_does_not_resolve_says_so_quickly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MDMTUI_DATA_DIR": str(tmp_path / "data"),
           "MDMTUI_CONFIG_DIR": str(tmp_path / "config"), "HOME": str(tmp_path)}
    add = [sys.executable, "-m", "mdmtui", "linkage", "add", "Nowhere", "--system", "mobileiron", "--server",
           "https://mdm.no-such-host.invalid", "--user", "api", "--password-stdin"]
    subprocess.run(add, input="pw\n", env=env, check=True, capture_output=True, text=True, timeout=60)
    started = time.monotonic()
    test = subprocess.run([sys.executable, "-m", "mdmtui", "linkage", "test", "Nowhere"], env=env,
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert test.returncode == 1
    assert "cannot resolve host mdm.no-such-host.invalid" in test.stderr and "Traceback" not in test.stderr
    assert took < 8, f"{took:.1f} s"
