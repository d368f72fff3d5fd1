"""``mdmtui collect``, ``devices list|show|export|delete`` and ``licenses`` against the simulator."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.cli.collect import _ProgressLine  # noqa: E402
from mdmtui.storage.models import AuditEvent, Device  # noqa: E402
from mdmtui.records import Progress  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402
from mdmtui.textwidth import width  # noqa: E402

SIZE = 25


@pytest.fixture
def sim():
    with Simulator(seed=31, intune=SIZE, mobileiron=SIZE, sdm=1) as simulator:
        yield simulator


@pytest.fixture
def linked(ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=10)
    sim_linkage(ctx, sim, "mobileiron", page_size=10)
    return ctx


def cli(capsys, ctx, *argv: str) -> tuple[int, str, str]:
    code = main(["--database", ctx.settings.database, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def collected(capsys, linked):
    code, out, err = cli(capsys, linked, "collect")
    assert code == 0, err
    return linked


def test_collect_prints_one_summary_line_per_linkage(capsys, linked, sim):
    code, out, err = cli(capsys, linked, "collect", "--all")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"Intune: {SIZE} devices in ") and f"{SIZE} new" in lines[0]
    assert lines[1].startswith("MobileIron: ") and "0 missing" in lines[1]
    code, out, _ = cli(capsys, linked, "collect", "--linkage", "Intune", "--json")
    [summary] = json.loads(out)
    assert (code, summary["status"], summary["unchanged"], summary["new"]) == (0, "succeeded", SIZE, 0)
    assert "Traceback" not in err


def test_a_failed_collection_exits_1_with_its_reason(capsys, linked, sim):
    from mdmtui.services import linkages

    linkages.update(linked, "MobileIron", password="not-the-password")
    code, out, err = cli(capsys, linked, "collect")
    assert code == 1
    assert "MobileIron: failed: MobileIron Core rejected the API user" in out
    assert sim.mobileiron.password not in out + err and "not-the-password" not in out + err


def test_collect_of_an_unknown_linkage_is_one_clear_line(capsys, linked):
    code, out, err = cli(capsys, linked, "collect", "--linkage", "Nope")
    assert code == 1 and err.strip() == "mdmtui: no linkage named 'Nope' (see `mdmtui linkage list`)"


def test_collect_is_refused_in_read_only_mode(capsys, linked):
    code, _, err = cli(capsys, linked, "--read-only", "collect")
    assert code == 1 and "read-only" in err
    assert Device.select().count() == 0


def test_progress_line_rewrites_itself():
    out = io.StringIO()
    line = _ProgressLine(out)
    line.update(Progress("Intune", 1, 1000, None, 500.0))
    line.update(Progress("MobileIron", 2, 400, None, 200.0))
    line.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "Intune: 1 pages, 1,000 devices, 500/s | MobileIron: 2 pages, 400 devices, 200/s" in text


def test_list_aligns_wide_names_and_shows_local_time(capsys, collected, tokyo):
    for device_id, name in ((1, "A山田太郎のiPhone"), (2, "Aテスト端末"), (3, "Aab")):
        Device.update(computer_name=name).where(Device.id == device_id).execute()
    code, out, _ = cli(capsys, collected, "devices", "list", "--limit", "5")
    assert code == 0
    lines = out.splitlines()
    header, rows = lines[0], lines[1:6]
    column = width(header[:header.index("Serial")])
    for row in rows:
        serial = Device.get(Device.id == int(row.split()[0])).serial_number or ""
        if serial:
            assert width(row[:row.index(serial)]) == column, row
    assert f"(5 of {2 * SIZE} devices shown" in out
    assert "A山田太郎のiPhone" in rows[2] and "Aテスト端末" in rows[1]
    last_alive = Device.get(Device.id == int(rows[0].split()[0])).last_alive_at
    assert last_alive.astimezone().strftime("%Y-%m-%d %H:%M") in out


def test_list_filters_and_json(capsys, collected):
    code, out, _ = cli(capsys, collected, "devices", "list", "--os-class", "m", "--json", "--limit", "0")
    data = json.loads(out)
    assert code == 0 and data["total"] == SIZE and len(data["devices"]) == SIZE
    assert {d["os_class"] for d in data["devices"]} == {"M"}
    serial = data["devices"][3]["serial_number"]
    code, out, _ = cli(capsys, collected, "devices", "list", "--search", serial.lower(), "--json")
    assert [d["serial_number"] for d in json.loads(out)["devices"]] == [serial]
    code, out, _ = cli(capsys, collected, "devices", "list", "--missing")
    assert (code, out.strip()) == (0, "no device matches")
    code, _, err = cli(capsys, collected, "devices", "list", "--security", "bogus")
    assert code == 2 and "unknown security problem" in err


def test_list_and_export_take_the_filter_language(capsys, collected):
    expected = {d.serial_number for d in Device.select().where(Device.os_class == "M", Device.carrier.is_null(False))}
    others = Device.select().where(Device.os_class == "M", Device.carrier.is_null(True)).count()
    code, out, err = cli(capsys, collected, "devices", "list", "--filter", "os:M !carrier:nobody-at-all",
                         "--json", "--limit", "0")
    assert code == 0, err
    assert len(json.loads(out)["devices"]) == len(expected) + others == SIZE  # negation keeps unknown carriers
    carrier = Device.select().where(Device.carrier.is_null(False)).first().carrier
    code, out, _ = cli(capsys, collected, "devices", "export", "--format", "json", "--filter", f'carrier:"{carrier}"')
    wanted = Device.select().where(Device.carrier == carrier).count()
    assert code == 0 and len(json.loads(out)) == wanted > 0
    code, out, err = cli(capsys, collected, "devices", "list", "--filter", "colour:red")
    assert code == 2 and err.count("\n") == 1 and "unknown field 'colour'" in err and "Traceback" not in err
    code, _, err = cli(capsys, collected, "devices", "delete", "--filter", 'linkage:"unclosed', "--yes")
    assert code == 2 and "unclosed quote" in err


def test_show_by_serial_and_imei_and_ambiguous_names(capsys, collected):
    device = Device.select().where(Device.imei.is_null(False), Device.linkage_name == "Intune").first()
    code, out, _ = cli(capsys, collected, "devices", "show", device.serial_number)
    assert code == 0 and f"(id {device.id})" in out
    assert "\nSmart device\n" in out and device.imei in out and "Management Type" in out
    code, out, _ = cli(capsys, collected, "devices", "show", device.imei, "--json")
    data = json.loads(out)
    assert data["id"] == device.id and data["groups"]["Smart device"]["IMEI"] == device.imei
    other = Device.select().where(Device.id != device.id).first()
    Device.update(computer_name="Shared name").where(Device.id.in_([device.id, other.id])).execute()
    code, out, err = cli(capsys, collected, "devices", "show", "Shared name")
    assert code == 1 and "matches 2 devices" in err and f"id {device.id}" in err and f"id {other.id}" in err
    code, _, err = cli(capsys, collected, "devices", "show", "no-such-device")
    assert code == 1 and "no device matches" in err


def test_export_csv_and_json_with_asset_info_and_no_secret(capsys, collected, sim, tmp_path):
    from mdmtui.services import inventory

    inventory.set_asset_info(collected, 1, asset_number="資産-001")
    target = tmp_path / "devices.csv"
    code, _, err = cli(capsys, collected, "devices", "export", "--format", "csv", "--bom", "-o", str(target))
    assert code == 0 and f"{2 * SIZE} devices written" in err
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 2 * SIZE and {r["id"]: r["asset_asset_number"] for r in rows}["1"] == "資産-001"
    assert rows[0]["management_type"] == "MDM linkage management"
    code, out, _ = cli(capsys, collected, "devices", "export", "--format", "json", "--linkage", "MobileIron")
    data = json.loads(out)
    assert len(data) == SIZE and {d["linkage_name"] for d in data} == {"MobileIron"}
    for secret in (sim.mobileiron.password, sim.intune.client_secret):
        assert secret not in out and secret.encode() not in raw


def test_delete_needs_the_typed_count_or_yes_and_is_audited(capsys, collected):
    victim = Device.select().where(Device.linkage_name == "Intune").first()
    code, _, err = cli(capsys, collected, "devices", "delete", f"id:{victim.id}")
    assert code == 1 and "not confirmed" in err and Device.get_or_none(Device.id == victim.id) is not None
    code, out, _ = cli(capsys, collected, "devices", "delete", f"id:{victim.id}", "--yes")
    assert code == 0 and "1 device's information deleted" in out
    assert Device.get_or_none(Device.id == victim.id) is None
    entry = AuditEvent.get(AuditEvent.category == "deletion")
    assert (entry.device_id, entry.device_serial) == (victim.id, victim.serial_number)
    code, _, err = cli(capsys, collected, "devices", "delete")
    assert code == 2 and "name the devices" in err
    code, out, _ = cli(capsys, collected, "devices", "delete", "--linkage", "MobileIron", "--yes")
    assert code == 0 and f"{SIZE:,} devices' information deleted" in out


def test_licenses_table_and_json(capsys, collected):
    code, out, _ = cli(capsys, collected, "licenses")
    assert code == 0
    intune = next(line for line in out.splitlines() if line.startswith("Intune"))
    assert intune.split()[-3:] == [str(SIZE), "0", "0"]
    code, out, _ = cli(capsys, collected, "licenses", "--json")
    data = json.loads(out)
    assert (data["managed"], data["licenses"]) == (2 * SIZE, SIZE)


def test_list_security_unmanaged_shows_profile_removed_devices(capsys, linked, sim):
    dead = sim.device_ids("mobileiron")[2]
    sim.admin.remove_profile("mobileiron", dead)
    assert cli(capsys, linked, "collect")[0] == 0
    code, out, _ = cli(capsys, linked, "devices", "list", "--security", "unmanaged", "--json", "--limit", "0")
    listed = {d["mdm_device_id"]: d for d in json.loads(out)["devices"]}
    truth = {i: sim.truth("mobileiron", i) for i in sim.device_ids("mobileiron")}
    assert code == 0 and set(listed) == {i for i, t in truth.items() if t["common.mdm_managed"] is False}
    assert listed[dead]["security"][0] == "profile removed"


def test_collect_changed_only_lists_what_moved_and_marks_nothing_missing(capsys, collected, sim):
    from mdmtui.sim.day import DayRates

    sim.admin.advance(6, rates=DayRates(checkin=0, stale_checkin=0, sim_swap=0, apps=0, enrol=0, reenrol=0, leave=0))
    ids = sim.device_ids("intune")
    sim.admin.touch("intune", ids[3])
    sim.admin.remove("intune", ids[7])
    code, out, err = cli(capsys, collected, "collect", "--linkage", "Intune", "--changed-only", "--json")
    [summary] = json.loads(out)
    assert code == 0, err
    assert summary["kind"] == "changed" and summary["missing"] == 0 and 1 <= summary["devices_seen"] < SIZE
    assert Device.get(Device.mdm_device_id == ids[7]).missing_since is None
