"""The overview's figures on a known fleet (SQLite and PostgreSQL): each count is right, and each
figure's drill-down filter lists exactly the devices it counts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from collect_helpers import ScriptedConnector, plain_linkage, record, scripted

from mdmtui.models import CollectionRun, DeviceAction, utcnow
from mdmtui.records import OsClass
from mdmtui.services import collection, inventory, overview
from mdmtui.services.inventory import DeviceFilter

NOW = utcnow()


def mi_devices() -> list:
    return [
        record("a", os_name="iOS", os_version="17.4", serial_number="SERIAL0001", imei="351111111111111", passcode_set=True,
               jailbroken=False, encrypted=True, last_alive_at=NOW - timedelta(hours=2)),
        record("b", os_name="iOS", os_version="9.3", serial_number="SERIAL0002", passcode_set=False,
               last_alive_at=NOW - timedelta(days=45)),
        record("c", os_name="iOS", os_version="10.0", serial_number="SERIAL0003", jailbroken=True, encrypted=False,
               last_alive_at=NOW - timedelta(days=3)),
        record("d", os_name="Android", os_version="14", serial_number="SERIAL0004", mdm_managed=False,
               last_alive_at=NOW - timedelta(days=100)),
        record("e", serial_number="SERIAL0005"),  # neither OS nor last alive confirmation collected
    ]


@pytest.fixture
def known_fleet(ctx):
    plain_linkage("MI")
    plain_linkage("SDM", system="sdm")
    mi = mi_devices()
    asyncio.run(collection.collect(ctx, "MI", connector_factory=scripted(ScriptedConnector([mi]))))
    twin = record("f", os_class=OsClass.SI, os_name="iOS", os_version="17.4", serial_number="SERIAL0001", last_alive_at=NOW)
    asyncio.run(collection.collect(ctx, "SDM", connector_factory=scripted(ScriptedConnector([[twin]]))))
    asyncio.run(collection.collect(ctx, "MI", connector_factory=scripted(ScriptedConnector([mi[:4]]))))  # e gone
    ids = {d.mdm_device_id: d.id for d in inventory.page(DeviceFilter(), 0, 50)}
    for mdm_id, outcome, age in (("b", "pending", 0), ("c", "failed", 1), ("c", "failed", 2), ("d", "failed", 30)):
        DeviceAction.create(device=ids[mdm_id], linkage_name="MI", mdm_device_id=mdm_id, action="lock",
                            outcome=outcome, requested_at=NOW - timedelta(days=age))
    return ids


def by_key(figures) -> dict[str, int]:
    return {f.key: f.count for f in figures}


def all_figures(o: overview.Overview):
    yield o.devices
    yield from o.security
    yield from o.os_classes
    yield from o.last_seen
    yield from o.actions
    for p in o.platforms:
        yield from p.versions
    for lk in o.linkages:
        yield lk.devices
        yield lk.licenses


def test_security_and_state_counts(known_fleet, ctx):
    o = overview.overview(ctx, now=NOW)
    assert o.devices.count == 6 and o.stale_days == 30
    assert by_key(o.security) == {"jailbroken": 1, "passcode": 1, "unencrypted": 1, "stale": 2, "unmanaged": 1,
                                  "missing": 1, "duplicates": 2}


def test_os_versions_per_platform_oldest_first_and_os_mix(known_fleet, ctx):
    o = overview.overview(ctx, now=NOW)
    assert [(p.name, p.total, [(v.label, v.count) for v in p.versions]) for p in o.platforms] == [
        ("Android", 1, [("14", 1)]),
        ("iOS", 4, [("9.3", 1), ("10.0", 1), ("17.4", 2)]),
        ("OS not collected", 1, [("not collected", 1)])]
    assert by_key(o.os_classes) == {"os_class:M": 5, "os_class:Si": 1}


def test_last_seen_histogram_actions_and_linkages(known_fleet, ctx):
    o = overview.overview(ctx, now=NOW)
    assert [f.count for f in o.last_seen] == [2, 1, 0, 1, 1, 1]  # <1d, 1-7d, 7-30d, 30-90d, 90d+, unknown
    assert by_key(o.actions) == {"pending": 1, "failed": 1}
    assert [f.detail for f in o.actions] == ["1 actions", "2 actions"]  # the one 30 days old is not counted
    mi, sdm = o.linkages
    assert (mi.name, mi.system, mi.devices.count, mi.licenses.count) == ("MI", "mobileiron", 5, 5)
    assert (sdm.name, sdm.devices.count, sdm.licenses.count) == ("SDM", 1, 1)
    assert [r.inventory_total for r in mi.runs] == [5, 5] and mi.last.status == "succeeded"
    assert all(r.duration_s is not None and r.duration_s >= 0 for r in mi.runs)


def test_every_figure_drills_down_to_exactly_its_devices(known_fleet, ctx):
    o = overview.overview(ctx, now=NOW)
    figures = list(all_figures(o))
    assert len(figures) > 20
    for figure in figures:
        assert inventory.count(DeviceFilter(**figure.drill)) == figure.count, figure


def test_history_keeps_the_last_runs_and_reads_old_runs_without_a_total(known_fleet, ctx):
    CollectionRun.update(inventory_total=None).where(CollectionRun.id == CollectionRun.select(
        CollectionRun.id).where(CollectionRun.linkage_name == "MI").order_by(CollectionRun.id).limit(1)).execute()
    for _ in range(overview.RUNS_KEPT + 3):
        CollectionRun.create(linkage_name="SDM", status="failed", reason="timeout", started_at=NOW)
    o = overview.overview(ctx, now=NOW)
    mi, sdm = o.linkages
    assert [r.inventory_total for r in mi.runs] == [None, 5]
    assert len(sdm.runs) == overview.RUNS_KEPT and sdm.last.status == "failed" and sdm.last.duration_s is None


def test_an_empty_inventory_has_zero_counts_not_errors(ctx):
    o = overview.overview(ctx)
    assert o.devices.count == 0 and all(f.count == 0 for f in o.security) and o.platforms == [] and o.linkages == []
    assert set(o.as_dict()) == {"as_of", "stale_days", "devices", "security", "os_classes", "platforms",
                                "last_seen", "linkages", "actions"}


def test_version_order_is_numeric():
    versions = ["17.4", "9.3", "10.0.1", None, "10.0", "10", "beta"]
    assert sorted(versions, key=overview.version_key) == ["9.3", "10", "10.0", "10.0.1", "17.4", "beta", None]


def test_drill_down_fields_filter_in_sql(known_fleet, ctx):
    def names(**fields):
        return sorted(d.mdm_device_id for d in inventory.page(DeviceFilter(**fields), 0, 50))

    assert names(duplicates=True) == ["a", "f"] and names(duplicates=False) == ["b", "c", "d", "e"]
    assert names(os_name="iOS", os_version="17.4") == ["a", "f"]
    assert names(os_name=inventory.NOT_COLLECTED) == ["e"] and names(os_version="9.3") == ["b"]
    assert names(seen_before=NOW - timedelta(days=30)) == ["b", "d"] and names(seen_unknown=True) == ["e"]
    assert names(seen_after=NOW - timedelta(days=7), seen_before=NOW - timedelta(days=1)) == ["c"]
    assert names(action="failed") == ["c", "d"] and names(action="failed", action_since=NOW - timedelta(days=7)) == ["c"]
    assert names(action="pending") == ["b"] and names(licensed=True, linkage="SDM") == ["f"]
    with pytest.raises(inventory.UsageError, match="unknown action state"):
        inventory.count(DeviceFilter(action="lost"))
