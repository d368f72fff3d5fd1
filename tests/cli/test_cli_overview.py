"""``mdmtui overview [--json]`` on a known fleet: the figures as text tables with bars, and as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from overview_helpers import build_known_fleet  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.storage.models import Device  # noqa: E402


@pytest.fixture
def known(ctx):
    build_known_fleet(ctx)
    return ctx


def cli(capsys, ctx, *argv: str) -> tuple[int, str, str]:
    code = main(["--database", ctx.settings.database, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def line_of(out: str, start: str) -> list[str]:
    [line] = [ln for ln in out.splitlines() if ln.startswith(start)]
    return line.split()


def test_text_shows_each_figure_with_a_bar(capsys, known):
    code, out, err = cli(capsys, known, "overview")
    assert code == 0, err
    assert "Fleet overview as of" in out and ": 6 devices" in out
    assert line_of(out, "two linkages, same serial/IMEI")[-3:] == ["2", "33.3%", "█" * 30]  # the largest: full
    assert line_of(out, "jailbroken / rooted")[-3:] == ["1", "16.7%", "█" * 15]
    assert line_of(out, "not seen for 30 days or more")[-2:] == ["33.3%", "█" * 30]
    versions = [ln.split()[:3] for ln in out.split("OS versions (oldest first)")[1].split("\n\n")[0].splitlines()[2:]]
    assert versions == [["Android", "14", "1"], ["iOS", "9.3", "1"], ["iOS", "10.0", "1"], ["iOS", "17.4", "2"],
                        ["OS", "not", "collected"]]
    mi = line_of(out, "MI ")
    assert mi[:4] == ["MI", "mobileiron", "5", "5"] and "succeeded" in mi and mi[-1] == "5"
    assert line_of(out, "devices, failed (7 days)")[-3:] == ["1", "2", "actions"]


def test_json_has_stable_keys_and_the_drill_down_filters(capsys, known):
    code, out, _ = cli(capsys, known, "overview", "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["as_of", "stale_days", "devices", "security", "os_classes", "platforms", "last_seen",
                          "linkages", "actions"]
    assert data["devices"]["count"] == 6
    security = {f["key"]: (f["count"], f["drill"]) for f in data["security"]}
    assert security["duplicates"] == (2, {"duplicates": True})
    assert security["stale"] == (2, {"security_problem": "stale", "stale_days": 30})
    [ios] = [p for p in data["platforms"] if p["name"] == "iOS"]
    assert [(v["label"], v["count"], v["drill"]) for v in ios["versions"]][0] == (
        "9.3", 1, {"os_name": "iOS", "os_version": "9.3"})
    mi = data["linkages"][0]
    assert (mi["name"], mi["devices"]["count"], mi["last"]["status"], mi["last"]["inventory_total"]) == (
        "MI", 5, "succeeded", 5)
    assert [r["inventory_total"] for r in mi["runs"]] == [5, 5]


def test_hostile_names_are_escaped_and_an_empty_database_prints_zeros(capsys, ctx):
    code, out, _ = cli(capsys, ctx, "overview")
    assert code == 0 and ": 0 devices" in out
    Device.create(linkage=None, linkage_name="evil\x1b[31m", mdm_device_id="x", os_class="M",
                  os_name="iOS\x1b]8;;http://x\x07", os_version="1")
    code, out, _ = cli(capsys, ctx, "overview")
    assert code == 0 and "\x1b" not in out and "\\x1b" in out


def test_an_unreadable_database_is_one_line_and_exit_1(capsys, tmp_path):
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    code = main(["--database", f"sqlite:///{bad}", "overview"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "not an mdmtui database" in err
