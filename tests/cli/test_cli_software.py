"""``mdmtui software list|show``: titles across the fleet, one title's versions and devices, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import ScriptedConnector, plain_linkage, record, run, scripted  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.records import SoftwareItem  # noqa: E402
from mdmtui.textwidth import width  # noqa: E402

HOSTILE = "evil\x1b[2J"


@pytest.fixture
def fleet(ctx):
    plain_linkage("東京")
    teams = [SoftwareItem("Teams", "24.1", "Microsoft")]
    pages = [[record("a", computer_name="営業部の iPhone", software=teams + [SoftwareItem("乗換案内", None, "ジョルダン")]),
              record("b", software=[SoftwareItem("Teams", "23.9", None), SoftwareItem(HOSTILE, "1", None)]),
              record("c", software=teams)]]
    assert run(ctx, "東京", connector_factory=scripted(ScriptedConnector(pages))).status == "succeeded"
    return ctx


def cli(capsys, ctx, *argv: str) -> tuple[int, str, str]:
    code = main(["--database", ctx.settings.database, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_titles_aligned_with_hostile_names_escaped(capsys, fleet):
    code, out, err = cli(capsys, fleet, "software", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Title", "Vendor", "Devices", "Versions", "Most", "common", "Linkages"]
    assert [ln.split()[0] for ln in lines[1:]] == ["evil\\x1b[2J", "Teams", "乗換案内"]
    assert lines[2].split() == ["Teams", "Microsoft", "3", "2", "24.1", "東京"]
    assert "\x1b" not in out
    vendor_at = width(lines[0][:lines[0].index("Vendor")])
    assert width(lines[3][:lines[3].index("ジョルダン")]) == vendor_at          # wide characters align


def test_list_filter_and_json(capsys, fleet):
    code, out, _ = cli(capsys, fleet, "software", "list", "--filter", "ジョルダン", "--json")
    assert code == 0
    data = json.loads(out)
    assert data == {"total": 1, "titles": [{"title": "乗換案内", "vendor": "ジョルダン", "devices": 1, "versions": 1,
                                            "top_version": None, "linkages": ["東京"]}]}
    code, out, _ = cli(capsys, fleet, "software", "list", "--filter", "nothing-like-it")
    assert (code, out) == (0, "no title matches\n")


def test_show_lists_versions_and_the_devices_with_it(capsys, fleet):
    code, out, err = cli(capsys, fleet, "software", "show", "Teams")
    assert code == 0, err
    assert out.splitlines()[0] == "Teams — Microsoft; 3 devices, 2 versions; linkages: 東京"
    assert "devices with it: 3" in out
    code, out, _ = cli(capsys, fleet, "software", "show", "Teams", "--version", "23.9", "--json")
    data = json.loads(out)
    assert [d["mdm_device_id"] for d in data["devices"]] == ["b"] and data["devices_total"] == 1
    assert [(v["version"], v["devices"]) for v in data["versions"]] == [("24.1", 2), ("23.9", 1)]
    code, out, _ = cli(capsys, fleet, "software", "show", "乗換案内", "--without", "--json")
    assert sorted(d["mdm_device_id"] for d in json.loads(out)["devices"]) == ["b", "c"]
    code, out, _ = cli(capsys, fleet, "software", "show", "乗換案内", "--version", "", "--json")
    assert [d["mdm_device_id"] for d in json.loads(out)["devices"]] == ["a"]   # the version not collected


def test_unknown_title_or_version_is_one_line_and_status_1(capsys, fleet):
    code, out, err = cli(capsys, fleet, "software", "show", "teams")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "no device has software titled 'teams'" in err
    code, _, err = cli(capsys, fleet, "software", "show", "Teams", "--version", "9\x1b")
    assert code == 1 and err.count("\n") == 1 and "\x1b" not in err and "24.1, 23.9" in err


def test_bad_usage_is_status_2(capsys, fleet):
    with pytest.raises(SystemExit) as exited:
        cli(capsys, fleet, "software", "list", "--sort", "size")
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err
    code, _, err = cli(capsys, fleet, "software", "list", "--limit", "-1")
    assert code == 2 and "--limit" in err
    with pytest.raises(SystemExit) as exited:
        cli(capsys, fleet, "software")
    assert exited.value.code == 2
