"""An SDM linkage's sdm_import.properties entry follows its rename and removal; a stale entry fails nothing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.storage.models import AuditEvent, Linkage, Software  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402

HEAD = "# SDM database servers\r\n! kept as written\r\n"


class Tty(io.StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def sims():
    """Two SDM servers (one linkage per MDM server)."""
    with Simulator(seed=5, intune=0, mobileiron=0, sdm=8) as tokyo, \
            Simulator(seed=6, intune=0, mobileiron=0, sdm=8) as osaka:
        yield tokyo, osaka


@pytest.fixture
def two_sdm(sqlite_ctx, sims):
    """Two SDM linkages on the simulators, both named in sdm_import.properties (CRLF, comments)."""
    tokyo, osaka = sims
    sim_linkage(sqlite_ctx, tokyo, "sdm", "SDM 東京")
    sim_linkage(sqlite_ctx, osaka, "sdm", "SDM Osaka")
    properties(sqlite_ctx).parent.mkdir(parents=True, exist_ok=True)
    properties(sqlite_ctx).write_bytes((
        f"{HEAD}sdm.1.name=SDM 東京\r\nsdm.1.dbhost={tokyo.sdm.db_host}\r\nsdm.1.dbport={tokyo.sdm.db_port}\r\n"
        f"# the Osaka one\r\nsdm.2.name = SDM Osaka\r\nsdm.2.dbhost={osaka.sdm.db_host}\r\n"
        f"sdm.2.dbport={osaka.sdm.db_port}\r\n").encode())
    return sqlite_ctx


def properties(ctx) -> Path:
    return ctx.settings.properties_path


def cli(capsys, monkeypatch, ctx, *argv: str, stdin=None) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else io.StringIO(""))
    code = main(["--database", ctx.settings.database, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_rename_updates_the_entry_keeping_comments_order_and_line_ends(capsys, monkeypatch, two_sdm):
    before = properties(two_sdm).read_bytes()
    code, out, err = cli(capsys, monkeypatch, two_sdm, "linkage", "edit", "SDM Osaka", "--rename", "SDM 大阪")
    assert code == 0, err
    assert properties(two_sdm).read_bytes() == before.replace(b"SDM Osaka", "SDM 大阪".encode())
    entry = AuditEvent.select().where(AuditEvent.action == "linkage.update").get()
    assert "sdm.2 renamed in" in entry.message


def test_remove_asks_on_a_terminal_and_drops_only_that_entry(capsys, monkeypatch, two_sdm):
    code, out, err = cli(capsys, monkeypatch, two_sdm, "linkage", "remove", "SDM 東京", "--devices", "keep",
                         stdin=Tty("y\n"))
    assert code == 0, err
    assert "sdm.1 removed from" in out
    text = properties(two_sdm).read_text(encoding="utf-8")
    assert text.startswith(HEAD.replace("\r\n", "\n")) and "東京" not in text and "sdm.2.name = SDM Osaka" in text


def test_remove_without_a_terminal_keeps_the_entry_unless_told(capsys, monkeypatch, two_sdm):
    before = properties(two_sdm).read_bytes()
    code, out, _ = cli(capsys, monkeypatch, two_sdm, "linkage", "remove", "SDM 東京", "--devices", "keep")
    assert code == 0 and "sdm.1 kept in" in out and properties(two_sdm).read_bytes() == before
    code, out, _ = cli(capsys, monkeypatch, two_sdm, "linkage", "remove", "SDM Osaka", "--devices", "keep",
                       "--properties-entry", "remove")
    assert code == 0 and "sdm.2 removed from" in out and b"sdm.2" not in properties(two_sdm).read_bytes()


def test_a_stale_entry_fails_no_other_linkage_and_its_software_is_still_read(capsys, monkeypatch, two_sdm):
    # As after a rename before this fix, or a hand edit: sdm.1 names a linkage that no longer exists
    Linkage.update(name="SDM 新宿").where(Linkage.name == "SDM 東京").execute()
    code, out, err = cli(capsys, monkeypatch, two_sdm, "collect")
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert not lines["SDM Osaka"].startswith("failed")
    assert "8 devices" in lines["SDM Osaka"] and "software not collected" not in lines["SDM Osaka"]
    assert "8 devices" in lines["SDM 新宿"] and "software not collected" in lines["SDM 新宿"]
    assert code == 0, out + err
    assert Software.select().count() > 0


def test_a_rename_the_file_cannot_follow_is_refused_whole(capsys, monkeypatch, two_sdm):
    broken = properties(two_sdm).read_bytes() + b"# caf\xe9\r\n"
    properties(two_sdm).write_bytes(broken)
    code, out, err = cli(capsys, monkeypatch, two_sdm, "linkage", "edit", "SDM Osaka", "--rename", "SDM 大阪")
    assert code == 1 and "not valid UTF-8" in err and "nothing was changed" in err
    assert Linkage.select().where(Linkage.name == "SDM Osaka").exists()
    assert properties(two_sdm).read_bytes() == broken
