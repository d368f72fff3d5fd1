"""The collection's diff, without any database: plain records and rows in, plain data out."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from mdmtui.records import COLLECTED_FIELDS, STATUS_UNKNOWN, STATUS_WARNING, DeviceRecord, OsClass, SoftwareItem
from mdmtui.services.collection import diff
from mdmtui.services.collection.diff import Target

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TARGET = Target(linkage_id=7, linkage_name="MI", auto_manage=True, now=NOW)
APPS = [SoftwareItem("Mail", "2.0", "Acme"), SoftwareItem("Maps", None, None)]


def record(mdm_id: str = "m1", **items: Any) -> DeviceRecord:
    items.setdefault("computer_name", f"pc-{mdm_id}")
    items.setdefault("serial_number", f"SER-{mdm_id}")
    return DeviceRecord(mdm_id, OsClass.M, **items)


def stored_from(rec: DeviceRecord, device_id: int, **changes: Any) -> dict[str, Any]:
    """The narrow stored row a collection of ``rec`` left behind (as storage hands it out)."""
    row = diff.new_row(rec, TARGET)
    narrow = {name: row[name] for name in ("mdm_device_id", "fingerprint", "change_marker", "missing_since",
                                           "device_status", "management_type", "management_status",
                                           "linkage_name")}
    return {"id": device_id, **narrow, **changes}


def full_from(rec: DeviceRecord, device_id: int, **changes: Any) -> dict[str, Any]:
    """Every column of the stored device."""
    return {"id": device_id, **diff.new_row(rec, TARGET), **changes}


def test_the_diff_holds_nothing_of_the_database():
    held = {getattr(v, "__module__", None) or getattr(v, "__name__", "") for v in vars(diff).values()
            if isinstance(v, type | type(sys))}
    assert not {m for m in held if m.startswith(("peewee", "psycopg2", "mdmtui.storage.models",
                                                 "mdmtui.storage.staging", "mdmtui.storage.runs"))}


def test_unknown_devices_are_new_rows_with_every_column_and_their_software():
    page = diff.diff_page([record("m1", software=APPS), record("m2")], {}, TARGET)
    assert [r["mdm_device_id"] for r in page.new_rows] == ["m1", "m2"]
    row = page.new_rows[0]
    assert row["linkage_id"] == 7 and row["linkage_name"] == "MI" and row["managed"] is True
    assert row["device_status"] == STATUS_UNKNOWN and row["first_seen_at"] == NOW and row["missing_since"] is None
    assert row["search_text"] and "pc-m1" in row["search_text"]
    assert page.new_software == [("m1", APPS)]
    assert page.new_ids == {"m1", "m2"} and not page.changes and page.unchanged == 0


def test_a_device_repeated_by_the_connector_is_taken_once():
    page = diff.diff_page([record("m1"), record("m1")], {}, TARGET, new_ids={"m9"})
    assert len(page.new_rows) == 1
    again = diff.diff_page([record("m9")], {}, TARGET, new_ids={"m9"})
    assert again.new_rows == [] and again.new_ids == set()


def test_an_identical_device_is_unchanged_and_seen():
    rec = record("m1", software=APPS)
    page = diff.diff_page([rec], {"m1": stored_from(rec, 11)}, TARGET)
    assert page.unchanged == 1 and not page.changes and not page.new_rows and page.seen == {11}


def test_a_device_seen_earlier_in_the_run_is_skipped():
    rec = record("m1")
    page = diff.diff_page([rec], {"m1": stored_from(rec, 11)}, TARGET, seen={11})
    assert page.unchanged == 0 and not page.changes and page.seen == set()


def test_a_changed_item_rewrites_the_row_and_keeps_the_stored_software():
    old = record("m1", os_version="16.0", software=APPS)
    new = record("m1", os_version="17.1")  # software not fetched this time
    [change] = diff.diff_page([new], {"m1": stored_from(old, 11)}, TARGET).changes
    assert change.device_id == 11 and change.row["os_version"] == "17.1" and change.software is None
    assert change.row["last_collected_at"] == NOW
    assert diff.stored_software_hash(change.row["fingerprint"]) == diff.software_hash(APPS)


def test_new_software_alone_is_a_change_that_replaces_it():
    old = record("m1", software=APPS)
    new = record("m1", software=APPS[:1])
    [change] = diff.diff_page([new], {"m1": stored_from(old, 11)}, TARGET).changes
    assert change.software == APPS[:1]


def test_a_missing_device_seen_again_is_a_change_even_when_identical():
    rec = record("m1")
    [change] = diff.diff_page([rec], {"m1": stored_from(rec, 11, missing_since=NOW - timedelta(days=1))},
                              TARGET).changes
    assert change.row["missing_since"] is None


def test_unfetched_items_keep_the_stored_value():
    old = record("m1", carrier="Docomo")
    stored = {**stored_from(old, 11), "carrier": "Docomo"}
    new = record("m1", carrier=None, unfetched=frozenset({"carrier"}))
    page = diff.diff_page([new], {"m1": stored}, TARGET)
    assert page.unchanged == 1  # carrier not read this time: still Docomo, nothing to write


def test_hardware_ids_are_compared_without_separators():
    assert diff.new_row(record("m1", imei="35-209900-176148-1"), TARGET)["imei"] == "352099001761481"


def test_plan_updates_writes_history_but_not_for_churning_items():
    old = record("m1", os_version="16.0", ram_free_bytes=1)
    new = record("m1", os_version="17.1", ram_free_bytes=2)
    [change] = diff.diff_page([new], {"m1": stored_from(old, 11)}, TARGET).changes
    plan = diff.plan_updates([change], {11: full_from(old, 11)}, {}, "MI")
    assert plan.history == [(11, "os_version", "16.0", "17.1")]
    assert plan.updates == [(11, change.row, False)] and plan.changed == 1 and plan.returned == 0
    assert plan.events == []


def test_plan_updates_leaves_out_a_device_deleted_meanwhile():
    old, new = record("m1", os_version="1"), record("m1", os_version="2")
    [change] = diff.diff_page([new], {"m1": stored_from(old, 11)}, TARGET).changes
    plan = diff.plan_updates([change], {}, {}, "MI")
    assert plan.updates == [] and plan.history == [] and plan.changed == 0


def test_a_returned_device_and_a_sim_swap_are_counted_and_announced():
    old = record("m1", imei="352099001761481", phone_number="+819012345678")
    new = record("m1", imei="352099001761481", phone_number="+819087654321")
    stored = stored_from(old, 11, missing_since=NOW - timedelta(days=2))
    [change] = diff.diff_page([new], {"m1": stored}, TARGET).changes
    plan = diff.plan_updates([change], {11: full_from(old, 11)}, {}, "MI")
    assert plan.returned == 1 and plan.changed == 0
    assert [e.kind for e in plan.events] == ["returned", "sim_swap"]
    assert plan.events[0].message == "'pc-m1' is back in MI" and plan.events[1].device_id == 11


def test_a_wiped_device_that_checked_in_after_the_wipe_re_registered():
    wiped_at = NOW - timedelta(hours=3)
    old = record("m1", last_alive_at=wiped_at - timedelta(hours=1))
    new = record("m1", last_alive_at=wiped_at + timedelta(hours=1))
    [change] = diff.diff_page([new], {"m1": stored_from(old, 11, device_status=STATUS_WARNING)}, TARGET).changes
    full = full_from(old, 11, device_status=STATUS_WARNING)
    plan = diff.plan_updates([change], {11: full}, {11: wiped_at}, "MI")
    assert plan.updates[0][2] is True and plan.warning_cleared == 1
    stale = diff.plan_updates([change], {11: full}, {11: NOW}, "MI")  # no contact since the wipe
    assert stale.updates[0][2] is False and stale.warning_cleared == 0


def test_the_fingerprint_covers_every_collected_item():
    base = diff.collected_values(record("m1"), None)
    prints = {diff.fingerprint({**base, name: "x"}, "-") for name in COLLECTED_FIELDS}
    assert len(prints) == len(COLLECTED_FIELDS) and diff.fingerprint(base, "-") not in prints


def test_search_text_holds_the_phone_number_in_its_forms():
    text = diff.search_text({"computer_name": "PC-1", "phone_number": "+81 90-1234-5678"})
    assert text is not None and "pc-1" in text and "09012345678" in text
    assert diff.search_text({}) is None
