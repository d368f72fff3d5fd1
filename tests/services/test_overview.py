"""The overview's figures on a known fleet (SQLite and PostgreSQL): each count is right, and each
figure's drill-down filter lists exactly the devices it counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from overview_helpers import NOW, build_known_fleet

from mdmtui.storage.models import CollectionRun
from mdmtui.services import inventory, overview
from mdmtui.services.inventory import DeviceFilter


@pytest.fixture
def known_fleet(ctx):
    return build_known_fleet(ctx)


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
    assert [f.detail for f in o.actions] == ["1 action", "2 actions"]  # the one 30 days old is not counted
    mi, sdm = o.linkages
    assert (mi.name, mi.system, mi.devices.count, mi.licenses.count) == ("MI", "mobileiron", 5, 5)
    assert (sdm.name, sdm.devices.count, sdm.licenses.count) == ("SDM", 1, 1)
    assert [r.inventory_total for r in mi.runs] == [5, 5] and mi.last.status == "succeeded"
    assert {lk.name: lk.licenses.count for lk in o.linkages} == {r.linkage: r.licenses
                                                                  for r in inventory.licenses().rows}
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
