"""What the CLI leaves on disk: a private data directory and log files, and no unbounded line in them."""

from __future__ import annotations

import io
import logging
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.config import load_settings  # noqa: E402
from mdmtui.logs import PrivateRotatingFileHandler, RedactingFormatter  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402

SDM_ADD = ["linkage", "add", "SDM 01", "--system", "sdm", "--server", "https://sdm01.example.jp", "--user", "admin",
           "--password-stdin"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_directory_and_its_logs_are_private(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert main(SDM_ADD) == 0
    settings = load_settings()
    assert mode(settings.data_dir) == 0o700
    assert mode(settings.log_file) == 0o600 and mode(settings.audit_log_file) == 0o600
    assert mode(Path(settings.database.removeprefix("sqlite:///"))) == 0o600


def test_existing_log_files_readable_by_others_are_tightened(capsys, monkeypatch):
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, mode=0o755)
    for path in (settings.log_file, settings.audit_log_file):
        path.write_text("", encoding="utf-8")
        path.chmod(0o644)
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert main(SDM_ADD) == 0
    assert mode(settings.log_file) == 0o600 and mode(settings.audit_log_file) == 0o600
    assert mode(settings.data_dir) == 0o755  # an existing directory may be shared on purpose: left alone


def test_a_rotated_log_starts_a_private_file(tmp_path):
    handler = PrivateRotatingFileHandler(tmp_path / "x.log", maxBytes=50, backupCount=2, encoding="utf-8")
    record = logging.LogRecord("mdmtui", logging.INFO, __file__, 1, "a line well over fifty characters long ......",
                               None, None)
    for _ in range(3):
        handler.emit(record)
    handler.close()
    assert mode(tmp_path / "x.log") == 0o600 and mode(tmp_path / "x.log.1") == 0o600


def test_a_log_message_is_one_bounded_line():
    record = logging.LogRecord("mdmtui", logging.INFO, __file__, 1, "device %s", ("ok\nFAKE ERROR \x1b[2J" + "x" * 20_000,),
                               None)
    line = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line and "\x1b" not in line and "ok\\nFAKE ERROR \\x1b[2J" in line
    assert len(line) < 10_100 and line.endswith("…(10,025 more characters)")


@pytest.fixture
def sim():
    with Simulator(seed=3, intune=0, mobileiron=0, sdm=3) as simulator:
        yield simulator


def test_a_huge_properties_line_puts_no_huge_line_on_stdout_or_in_the_logs(sqlite_ctx, sim, capsys):
    sim_linkage(sqlite_ctx, sim, "sdm")
    path = sqlite_ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("k" * 11_000_000 + "=1\nsdm.1.name=SDM\nsdm.1.dbhost=db\n", encoding="utf-8")
    code = main(["--database", sqlite_ctx.settings.database, "collect"])
    out, err = capsys.readouterr()
    assert code == 1 and "SDM: failed: " in out and "unknown key" in out
    assert len(out) + len(err) < 2_000
    audit_lines = sqlite_ctx.settings.audit_log_file.read_text(encoding="utf-8").splitlines()
    assert audit_lines and max(map(len, audit_lines)) < 3_000
    log_lines = sqlite_ctx.settings.log_file.read_text(encoding="utf-8").splitlines()
    assert max(map(len, log_lines), default=0) < 10_200


def test_an_audit_message_quoting_a_huge_value_is_cut_in_the_database_and_the_mirror(sqlite_ctx):
    from mdmtui.services import audit

    event = audit.record(sqlite_ctx, category="settings", action="x", outcome="failed",
                         message="bad value '" + "v" * 11_000_000 + "'\x9b")
    assert len(event.message) < 2_100 and event.message.endswith("…(10,998,013 more characters)")
    [line] = sqlite_ctx.settings.audit_log_file.read_text(encoding="utf-8").splitlines()
    assert len(line) < 3_000


def test_an_error_quoting_a_huge_input_is_one_bounded_line(sqlite_ctx, capsys, tmp_path):
    terms = tmp_path / "devices.txt"
    terms.write_text("\x1b]0;pwn\x07" + "z" * 10_000_000 + "\n", encoding="utf-8")
    code = main(["--database", sqlite_ctx.settings.database, "lock", "--from", str(terms)])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("mdmtui: no device matches '\\x1b]0;pwn\\x07zzz")
    assert len(out + err) < 2_500 and "more characters)" in err and "\x1b" not in err
