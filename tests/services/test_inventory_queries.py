"""Inventory queries: filters, order, pages, detail, software, history, licenses, asset info, deletion.

Devices come from a scripted collection (as in production), plus one row written directly (no
``search_text``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from collect_helpers import ScriptedConnector, plain_linkage, record, scripted, software, utc

from mdmtui.errors import ActionRefused, NotFoundError, UsageError
from mdmtui.storage.models import AssetInfo, Device, DeviceAction, DeviceHistory, Software, utcnow
from mdmtui.records import OsClass
from mdmtui.services import audit, collection, inventory
from mdmtui.services.inventory import DeviceFilter

NOW = utcnow()


def mi_fleet() -> list:
    return [
        record("a", computer_name="山田's iPhone", serial_number="SERA", imei="351111111111111", user_name="山田 太郎",
               phone_number="+819011112222", passcode_set=True, jailbroken=False, encrypted=True, last_alive_at=NOW,
               os_name="iOS", os_version="17.4", software=software("Mail", "Maps", "Slack")),
        record("b", computer_name="sato_phone", serial_number="SERB", imei="352222222222222", user_name="Sato",
               passcode_set=False, jailbroken=None, encrypted=None, last_alive_at=NOW - timedelta(days=45),
               os_name="Android", os_version="14"),
        record("c", computer_name="100% pad", serial_number="SERC", udid="UDID-CCC", passcode_set=True,
               jailbroken=True, encrypted=False, last_alive_at=NOW),
    ]


@pytest.fixture
def fleet(ctx):
    plain_linkage("MI")
    plain_linkage("Intune", system="intune")
    import asyncio

    asyncio.run(collection.collect(ctx, "MI", connector_factory=scripted(ScriptedConnector([mi_fleet()]))))
    pcs = [record("p1", os_class=OsClass.IP, device_type="PC", computer_name="経理-PC-1", serial_number="PCSER1",
                  wifi_mac="AABBCCDDEEFF", last_alive_at=NOW)]
    asyncio.run(collection.collect(ctx, "Intune", connector_factory=scripted(ScriptedConnector([pcs]))))
    # a row no collection wrote (older inventory): found by the text filter all the same
    Device.create(linkage=None, linkage_name="Old", mdm_device_id="z", os_class="M", computer_name="Legacy Zeta",
                  serial_number="OLDSER", orphaned=True)
    return {d.mdm_device_id: d.id for d in Device.select()}


def names(rows) -> list[str]:
    return [r.computer_name for r in rows]


def test_counts_and_quick_filters(fleet):
    assert inventory.count(DeviceFilter()) == 5
    assert inventory.count(DeviceFilter(linkage="MI")) == 3
    assert inventory.count(DeviceFilter(os_class="ip")) == 1
    assert inventory.count(DeviceFilter(device_status="unknown")) == 4
    assert inventory.count(DeviceFilter(missing=True)) == 0
    with pytest.raises(UsageError, match="unknown OS class"):
        inventory.count(DeviceFilter(os_class="XX"))


@pytest.mark.parametrize("text, expected", [
    ("山田", ["山田's iPhone"]), ("太郎", ["山田's iPhone"]), ("sera", ["山田's iPhone"]),
    ("2222222", ["sato_phone"]), ("udid-c", ["100% pad"]), ("9011112", ["山田's iPhone"]),
    ("100%", ["100% pad"]), ("o_p", ["sato_phone"]), ("%", ["100% pad"]), ("_", ["sato_phone"]),
    ("zeta", ["Legacy Zeta"]), ("oldser", ["Legacy Zeta"]), ("経理", ["経理-PC-1"]), ("nothing-like-it", []),
])
def test_text_search_matches_parts_of_the_searched_columns_literally(fleet, text, expected):
    f = DeviceFilter(text=text)
    assert sorted(names(inventory.page(f, 0, 50))) == sorted(expected)
    assert inventory.count(f) == len(expected)


def test_security_problems(fleet):
    def matching(problem):
        return sorted(names(inventory.page(DeviceFilter(security_problem=problem), 0, 50)))

    assert matching("passcode") == ["sato_phone"]
    assert matching("jailbroken") == ["100% pad"]
    assert matching("unencrypted") == ["100% pad"]
    assert matching("stale") == ["sato_phone"]
    assert matching(True) == ["100% pad", "sato_phone"]
    rows = {r.computer_name: r for r in inventory.page(DeviceFilter(), 0, 50)}
    assert inventory.security_flags(rows["sato_phone"], 30) == ["no passcode", "not seen 30d+"]
    assert inventory.security_flags(rows["山田's iPhone"], 30) == []
    assert inventory.security_flags(rows["経理-PC-1"], 30) == []  # not collected is no problem


def test_order_pages_and_ids_agree(fleet):
    f = DeviceFilter(sort="computer_name")
    everything = names(inventory.page(f, 0, 50))
    assert everything == sorted(everything, key=lambda n: n)  # byte order, stable by id
    assert names(inventory.page(f, 1, 2)) == everything[1:3]
    assert [r.id for r in inventory.page(f, 0, 50)] == inventory.ids(f)
    down = names(inventory.page(DeviceFilter(sort="computer_name", descending=True), 0, 50))
    assert down == everything[::-1]
    by_seen = inventory.page(DeviceFilter(sort="last_alive_at"), 0, 50)
    assert by_seen[-1].last_alive_at is None  # not collected sorts last
    assert inventory.page(f, 0, 0) == []


def test_page_marks_devices_with_an_action_not_final_and_counts_those_actions(fleet):
    first, second, third = inventory.page(DeviceFilter(sort="id"), 0, 3)
    for dev, outcome in ((first, "pending"), (first, "succeeded"), (second, "unknown"), (third, "failed")):
        DeviceAction.create(device=dev.id, linkage_name=dev.linkage_name, mdm_device_id=dev.mdm_device_id,
                            action="lock", outcome=outcome)
    marked = {r.id for r in inventory.page(DeviceFilter(sort="id"), 0, 50) if r.action_pending}
    assert marked == {first.id, second.id}
    assert inventory.pending_action_count() == 2


def test_detail_shows_only_what_the_source_can_deliver_grouped_as_the_spec(fleet):
    pc = inventory.device_detail(fleet["p1"])
    assert list(pc.groups)[:2] == ["System", "Computer"]
    assert "BIOS" in pc.groups and "Asset information" in pc.groups
    items = {label for group in pc.groups.values() for label, _ in group}
    assert "IMSI" not in items and "Passcode or password set" not in items  # -- for Intune PCs
    mi = inventory.device_detail(fleet["a"])
    smart = dict(mi.groups["Smart device"])
    assert smart["IMEI"] == "351111111111111" and smart["E-mail"] is None  # not collected: None
    assert "BIOS" not in mi.groups
    assert dict(mi.groups["System"])["Management Type"] == "MDM linkage management"
    assert mi.as_dict()["groups"]["Computer"]["Serial #"] == "SERA"
    with pytest.raises(NotFoundError):
        inventory.device_detail(999999)


def test_software_is_filtered_counted_and_paged(fleet):
    total, items = inventory.software_of(fleet["a"])
    assert total == 3 and [s.name for s in items] == ["Mail", "Maps", "Slack"]
    assert inventory.software_of(fleet["a"], "ma", 0, 1)[0] == 2
    assert [s.name for s in inventory.software_of(fleet["a"], "ma", 1, 1)[1]] == ["Maps"]
    assert inventory.software_of(fleet["a"], None, 0, 0) == (3, [])


def test_history_newest_first(fleet):
    DeviceHistory.create(device=fleet["a"], field="os_version", old_value="17.3", new_value="17.4", at=utc(2026, 1, 1))
    DeviceHistory.create(device=fleet["a"], field="phone_number", old_value="1", new_value="2", at=utc(2026, 2, 1))
    assert [h.field for h in inventory.history_of(fleet["a"])] == ["phone_number", "os_version"]


def test_licenses_one_per_managed_smart_device_none_for_intune(fleet, ctx):
    usage = inventory.licenses(ctx)
    by = {r.linkage: r for r in usage.rows}
    assert (by["MI"].managed, by["MI"].licenses) == (3, 3)
    assert (by["Intune"].managed, by["Intune"].licenses) == (1, 0)
    Device.update(managed=False).where(Device.id == fleet["b"]).execute()
    assert inventory.licenses(ctx).licenses == 2 + by["Old"].licenses


def test_asset_info_is_kept_audited_and_refused_in_read_only(fleet, ctx):
    saved = inventory.set_asset_info(ctx, fleet["a"], asset_number=" A-001 ", department="経理")
    assert saved["asset_number"] == "A-001" and saved["location"] is None
    inventory.set_asset_info(ctx, fleet["a"], department="総務")
    assert AssetInfo.select().count() == 1
    [latest, first] = audit.query(ctx, category="settings", device=fleet["a"])
    assert "department" in latest.message and latest.outcome == "succeeded"
    with pytest.raises(UsageError, match="unknown asset field"):
        inventory.set_asset_info(ctx, fleet["a"], password="x")
    for hostile in ("A-\x00001", "\x1b[2JA-1", "A\u202e1"):  # NUL (PostgreSQL refuses it), escapes, bidi
        with pytest.raises(UsageError, match="asset number: a control character"):
            inventory.set_asset_info(ctx, fleet["a"], asset_number=hostile)
    assert inventory.set_asset_info(ctx, fleet["a"], notes="line 1\nline 2")["notes"] == "line 1\nline 2"
    ctx.settings.read_only = True
    try:
        with pytest.raises(ActionRefused):
            inventory.set_asset_info(ctx, fleet["a"], notes="x")
        with pytest.raises(ActionRefused):
            inventory.delete_devices(ctx, [fleet["a"]])
    finally:
        ctx.settings.read_only = False
    assert inventory.asset_info(fleet["a"])["department"] == "総務"


def test_delete_is_explicit_audited_per_device_and_complete(fleet, ctx):
    inventory.set_asset_info(ctx, fleet["a"], notes="n")
    assert inventory.delete_devices(ctx, [fleet["a"], fleet["b"], fleet["a"]]) == 2
    assert not Device.select().where(Device.id.in_([fleet["a"], fleet["b"]])).exists()
    assert not Software.select().where(Software.device == fleet["a"]).exists()
    assert not AssetInfo.select().exists()
    entries = audit.query(ctx, category="deletion")
    assert sorted(e.device_name for e in entries) == ["sato_phone", "山田's iPhone"]
    assert all(e.device_serial and "returns at the next collection" in e.message for e in entries)
    with pytest.raises(NotFoundError):
        inventory.delete_devices(ctx, [fleet["a"]])


def test_matching_devices_are_every_match_in_full_by_id(fleet):
    found = inventory.matching_devices(DeviceFilter(linkage="MI", sort="computer_name", descending=True))
    assert [d.id for d in found] == sorted([fleet["a"], fleet["b"], fleet["c"]])
    assert found[0].serial_number == "SERA" and found[0].linkage_id is not None  # every column, not a page's
    assert inventory.matching_devices(DeviceFilter(linkage="nobody")) == []


def test_queries_hand_out_typed_records_never_orm_rows(fleet):
    f = DeviceFilter()
    records = [inventory.page(f, 0, 5)[0], next(inventory.iter_devices(f))[0], inventory.get_device(fleet["a"]),
               inventory.device_detail(fleet["a"]).device, inventory.software_of(fleet["a"])[1][0]]
    assert not any(isinstance(r, (Device, Software, AssetInfo)) for r in records)
    assert all(not hasattr(r, "__dict__") for r in records)  # slotted dataclasses


def test_the_one_cascade_delete_takes_everything_of_the_device_and_keeps_its_actions(fleet, ctx):
    from mdmtui.storage import devices
    from mdmtui.storage.models import SoftwareTitle

    DeviceAction.create(device=fleet["a"], linkage_name="MI", mdm_device_id="a", action="lock", outcome="pending")
    inventory.set_asset_info(ctx, fleet["a"], notes="n")
    DeviceHistory.create(device=fleet["a"], field="os_version", old_value="17.3", new_value="17.4")
    with ctx.db.atomic():
        gone = devices.delete(ctx.db, [fleet["a"], 999999])
    assert [d.mdm_device_id for d in gone] == ["a"]
    assert not Device.select().where(Device.id == fleet["a"]).exists()
    assert not DeviceHistory.select().where(DeviceHistory.device == fleet["a"]).exists()
    assert not Software.select().where(Software.device == fleet["a"]).exists()
    assert not AssetInfo.select().exists()
    assert DeviceAction.get(DeviceAction.mdm_device_id == "a").device_id is None  # its record stays
    assert not SoftwareTitle.select().where(SoftwareTitle.name == "Slack").exists()  # only "a" had Slack


def test_export_rows_stream_every_device_with_asset_info_and_no_secret(fleet, ctx):
    inventory.set_asset_info(ctx, fleet["a"], asset_number="A-1")
    rows = [inventory.export_row(d, a) for d, a in inventory.iter_devices(DeviceFilter(), chunk=2)]
    assert len(rows) == 5 and [r["id"] for r in rows] == inventory.ids(DeviceFilter())  # the view's order
    by_serial = DeviceFilter(sort="serial_number", descending=True)
    assert [d.id for d, _ in inventory.iter_devices(by_serial, chunk=2)] == inventory.ids(by_serial)
    assert {r["mdm_device_id"]: r["asset_asset_number"] for r in rows}["a"] == "A-1"
    assert not any("secret" in k or "password" in k for k in rows[0])
    only = list(inventory.iter_devices(DeviceFilter(linkage="Intune")))
    assert [d.mdm_device_id for d, _ in only] == ["p1"]


def test_sort_by_security_puts_the_worst_first(fleet):
    # 100% pad: jailbroken + unencrypted (10); sato_phone: no passcode + stale (5); the rest: none (0)
    worst_first = names(inventory.page(DeviceFilter(sort="security", descending=True), 0, 50))
    assert worst_first[:2] == ["100% pad", "sato_phone"]
    best_first = names(inventory.page(DeviceFilter(sort="security"), 0, 50))
    assert best_first[-2:] == ["sato_phone", "100% pad"]


def test_profile_removed_and_retired_devices_are_flagged_and_filtered(ctx):
    """Issue 10 #6: the MDM's device state is visible (security column, detail) and filterable."""
    import asyncio

    plain_linkage("MI")
    devices = [record("ok", computer_name="managed", mdm_managed=True, mdm_status="ACTIVE"),
               record("gone", computer_name="no profile", mdm_managed=False, mdm_status="ACTIVE"),
               record("ret", computer_name="retired", mdm_managed=False, mdm_status="RETIRED"),
               record("lost", computer_name="lost", mdm_managed=True, mdm_status="LOST"),
               record("sdm", computer_name="sdm unmanaged", mdm_managed=False)]
    asyncio.run(collection.collect(ctx, "MI", connector_factory=scripted(ScriptedConnector([devices]))))
    found = sorted(names(inventory.page(DeviceFilter(security_problem="unmanaged"), 0, 50)))
    assert found == ["lost", "no profile", "retired", "sdm unmanaged"]  # every state the column flags
    rows = {r.computer_name: r for r in inventory.page(DeviceFilter(), 0, 50)}
    assert inventory.security_flags(rows["no profile"]) == ["profile removed"]
    assert inventory.security_flags(rows["retired"]) == ["retired in MDM"]
    assert inventory.security_flags(rows["lost"]) == ["lost in MDM"]
    assert inventory.security_flags(rows["managed"]) == []
    assert rows["retired"].mdm_status == "RETIRED"  # the list rows carry what the refusal rule reads
    worst = names(inventory.page(DeviceFilter(sort="security", descending=True), 0, 4))
    assert set(worst) == {"lost", "no profile", "retired", "sdm unmanaged"}


def test_a_page_carries_the_consoles_optional_columns_and_sorts_by_the_asset_number(ctx):
    from control_helpers import make_device, make_linkage

    lk = make_linkage("Assets", "intune")
    a, b, c = (make_device(lk, "IS", name) for name in ("a", "b", "c"))
    Device.update(compliance="compliant", iccid="8981100000000000001").where(Device.id == a.id).execute()
    AssetInfo.create(device=b.id, asset_number="A-2", assigned_user="sato")
    AssetInfo.create(device=c.id, asset_number="A-1")
    rows = inventory.page(DeviceFilter(sort="asset_number"), 0, 10)
    assert [r.computer_name for r in rows] == ["c", "b", "a"]  # not set: last
    assert (rows[1].asset_number, rows[1].assigned_user, rows[2].asset_number) == ("A-2", "sato", None)
    assert (rows[2].compliance, rows[2].iccid) == ("compliant", "8981100000000000001")
    desc = inventory.page(DeviceFilter(sort="asset_number", descending=True), 0, 10)
    assert [r.computer_name for r in desc] == ["b", "c", "a"]
    assert inventory.ids(DeviceFilter(sort="assigned_user")) == [b.id, a.id, c.id]


@pytest.mark.parametrize("status, flagged", [("BLOCKED", True), ("retired", True), ("ACTIVE", False),
                                              (" active ", False), (None, False)])
def test_the_unmanaged_filter_is_what_the_security_column_shows(fleet, status, flagged):
    """A state the Security column flags (any MDM state but active) is counted, filtered and sorted the same."""
    Device.update(mdm_status=status).where(Device.id == fleet["a"]).execute()
    row = next(r for r in inventory.page(DeviceFilter(), 0, 50) if r.id == fleet["a"])
    assert bool(inventory.security_flags(row, 30)) is flagged
    assert (fleet["a"] in inventory.ids(DeviceFilter(security_problem="unmanaged"))) is flagged
