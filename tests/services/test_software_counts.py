"""The fleet's software counts (software_title, software_version) stay equal to a fresh GROUP BY of the
software table through collections, a changing fleet, deletions and linkage changes."""

from __future__ import annotations

import pytest
from collect_helpers import ScriptedConnector, plain_linkage, record, run, scripted, sdm_software_service, sim_linkage

from mdmtui.storage.models import Device, Software, SoftwareTitle, SoftwareVersion
from mdmtui.records import SoftwareItem
from mdmtui.services import inventory, linkages, software
from mdmtui.sim import Simulator
from mdmtui.storage import software as stored_software
from mdmtui.sim.day import DayRates

SIZE = 40
BUSY_DAY = DayRates(checkin=1, stale_checkin=1, sim_swap=0.05, apps=0.6, enrol=0.1, reenrol=0.05, leave=0.1)


@pytest.fixture
def sim():
    with Simulator(seed=47, intune=SIZE, mobileiron=SIZE, sdm=SIZE, budget=None) as simulator:
        yield simulator


def fresh_counts() -> tuple[dict, dict]:
    """What the aggregate must hold, counted from the software rows themselves."""
    versions: dict = {}
    titles: dict = {}
    for name, version, linkage, device in (Software.select(Software.name, Software.version, Device.linkage_name,
                                                           Software.device).join(Device).tuples()):
        versions.setdefault((name, version or "", linkage or ""), set()).add(device)
        titles.setdefault(name, set()).add(device)
    version_counts = {k: len(v) for k, v in versions.items()}
    title_counts = {}
    for name, devices in titles.items():
        mine = {k: n for k, n in version_counts.items() if k[0] == name}
        spread: dict = {}
        for (_n, version, _l), n in mine.items():
            spread[version] = spread.get(version, 0) + n
        top = sorted(spread.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        title_counts[name] = (len(devices), len(spread), len({k[2] for k in mine if k[2]}), top)
    return version_counts, title_counts


def stored_counts() -> tuple[dict, dict]:
    """What the aggregate holds."""
    versions = {(v.name, v.version, v.linkage_name): v.devices for v in SoftwareVersion.select()}
    titles = {t.name: (t.devices, t.versions, t.linkages, t.top_version) for t in SoftwareTitle.select()}
    return versions, titles


def assert_consistent() -> None:
    assert stored_counts() == fresh_counts()
    assert not SoftwareTitle.select().where(SoftwareTitle.stale == True).exists()  # noqa: E712


def _linked(ctx, sim) -> None:
    ctx.settings.refresh_days = 1                          # software is read again every day
    for system in ("intune", "mobileiron", "sdm"):
        sim_linkage(ctx, sim, system, page_size=25)
    sdm_software_service(sim)


def _collect_all(ctx) -> None:
    for name in ("Intune", "MobileIron", "SDM"):
        assert run(ctx, name).status == "succeeded"


def test_counts_follow_collections_of_a_changing_fleet(ctx, sim):
    _linked(ctx, sim)
    _collect_all(ctx)
    assert SoftwareTitle.select().count() > 5 and Software.select().count() > SIZE
    assert_consistent()
    before = stored_counts()
    for _day in range(3):                                  # apps installed, updated, removed; devices leave
        sim.admin.advance(24, rates=BUSY_DAY)
        _collect_all(ctx)
        assert_consistent()
    assert stored_counts() != before                       # the days changed something to follow


def test_counts_follow_deletions_renames_and_removed_linkages(ctx, sim):
    _linked(ctx, sim)
    _collect_all(ctx)
    some = [d.id for d in Device.select(Device.id).where(Device.linkage_name == "Intune").limit(7)]
    assert inventory.delete_devices(ctx, some) == 7
    assert_consistent()
    linkages.update(ctx, "SDM", name="SDM 東京")           # the counts per linkage move to the new name
    assert_consistent()
    assert SoftwareVersion.select().where(SoftwareVersion.linkage_name == "SDM 東京").exists()
    assert not SoftwareVersion.select().where(SoftwareVersion.linkage_name == "SDM").exists()
    linkages.remove(ctx, "Intune", "delete")
    assert_consistent()
    assert not SoftwareVersion.select().where(SoftwareVersion.linkage_name == "Intune").exists()
    linkages.remove(ctx, "SDM 東京", "keep")                 # kept devices keep their software and name
    assert_consistent()
    assert SoftwareVersion.select().where(SoftwareVersion.linkage_name == "SDM 東京").exists()


def test_a_device_listing_a_title_twice_counts_once_and_none_is_not_collected(ctx):
    twice = [SoftwareItem(name="Teams", version="1.0"), SoftwareItem(name="Teams", version="2.0"),
             SoftwareItem(name="Teams", version="2.0", vendor="Microsoft"), SoftwareItem(name="メモ帳", version=None)]
    plain_linkage("Fake")
    pages = [[record("a", software=twice), record("b", software=twice[:1])]]
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(pages))).status == "succeeded"
    assert_consistent()
    teams = software.title("Teams")
    assert (teams.devices, teams.versions, teams.vendor, teams.linkages) == (2, 2, "Microsoft", ["Fake"])
    assert [(v.version, v.devices) for v in software.versions("Teams")] == [("1.0", 2), ("2.0", 1)]
    assert [(v.version, v.devices) for v in software.versions("メモ帳")] == [(None, 1)]


def test_backfill_rebuilds_what_collections_kept(ctx, sim):
    _linked(ctx, sim)
    _collect_all(ctx)
    kept = stored_counts()
    SoftwareVersion.delete().execute()
    SoftwareTitle.update(devices=999).execute()
    with ctx.db.atomic():
        software.backfill(ctx.db)
    assert stored_counts() == kept
    assert_consistent()


def test_a_failed_apply_leaves_the_counts_as_they_were(ctx, sim, monkeypatch):
    _linked(ctx, sim)
    _collect_all(ctx)
    kept = stored_counts()
    sim.admin.advance(24, rates=BUSY_DAY)

    def broken(db):
        raise RuntimeError("disk full")
    monkeypatch.setattr(stored_software, "settle", broken)  # where the collection's apply calls it
    assert run(ctx, "Intune").status == "failed"
    assert stored_counts() == kept
    assert_consistent()


def test_device_filter_finds_devices_with_and_without_a_title_or_version(ctx):
    from mdmtui.services.inventory import DeviceFilter

    plain_linkage("Fake")
    pages = [[record("a", software=[SoftwareItem("Teams", "1.0"), SoftwareItem("乗換案内", None)]),
              record("b", software=[SoftwareItem("Teams", "2.0")]), record("c", software=[])]]
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(pages))).status == "succeeded"

    def names(**f) -> list[str]:
        return [d.mdm_device_id for d in inventory.page(DeviceFilter(**f))]
    assert names(software_title="Teams") == ["a", "b"]
    assert names(software_title="Teams", software_version="2.0") == ["b"]
    assert names(software_title="Teams", without_software=True) == ["c"]
    assert names(software_title="Teams", software_version="1.0", without_software=True) == ["b", "c"]
    assert names(software_title="乗換案内", software_version="") == ["a"]   # the version not collected
    assert names(software_title="teams") == []                           # a title is its exact name
    assert inventory.count(DeviceFilter(software_title="Teams", text="dev-b")) == 1


def test_a_title_too_long_for_the_index_is_cut_and_the_run_says_so(ctx):
    plain_linkage("Fake")
    pages = [[record("a", software=[SoftwareItem("長" * 400, "9" * 150, "x" * 5000)])]]
    summary = run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(pages)))
    assert summary.status == "succeeded" and "too long for the software index" in summary.reason
    (item,) = Software.select()
    assert (item.name, item.version, item.vendor) == ("長" * 300, "9" * 100, "x" * 5000)   # the vendor is not indexed
    assert software.title("長" * 300).devices == 1


def test_export_of_the_titles_a_line_per_version_csv_and_json(ctx):
    import csv
    import io
    import json

    from mdmtui.services import export

    plain_linkage("Fake")
    pages = [[record("a", software=[SoftwareItem("=cmd", "1", None), SoftwareItem("乗換案内", None, "ジョルダン")]),
              record("b", software=[SoftwareItem("乗換案内", "5.1", None)])]]
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(pages))).status == "succeeded"
    out = io.StringIO()
    assert export.write_software(out, software.TitleFilter(), "csv") == 2
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["title"], r["version"], r["devices"], r["linkages"]) for r in lines] == [
        ("'=cmd", "1", "1", "Fake"), ("乗換案内", "", "1", "Fake"), ("乗換案内", "5.1", "1", "Fake")]
    out = io.StringIO()
    assert export.write_software(out, software.TitleFilter(text="乗換"), "json") == 1
    data = json.loads(out.getvalue())
    assert [(r["version"], r["title_devices"], r["linkages"]) for r in data] == [(None, 2, ["Fake"]), ("5.1", 2, ["Fake"])]


def _software_indexes(db) -> dict[str, str]:
    return dict(db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'software' "
                               "AND sql IS NOT NULL").fetchall())


def test_a_bulk_apply_builds_the_software_indexes_after_the_insert_and_a_failure_keeps_them(ctx, monkeypatch):
    """SQLite: a first collection's software goes in without its indexes, which are built afterwards from
    their own definitions, in the apply's transaction; a failed apply leaves table and indexes as they were,
    and a small apply into a fuller table inserts row by row."""
    from mdmtui.storage import staging

    if ctx.db.__class__.__name__ != "SqliteDatabase":
        pytest.skip("the bulk path is SQLite's (PostgreSQL's DROP INDEX would lock out every reader)")
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 3, raising=False)
    indexes = _software_indexes(ctx.db)
    assert len(indexes) == 2                                   # (device), (name, version, device)
    statements: list[str] = []
    ctx.db.connection()  # the run's writer thread has its own connection: trace every new one
    real_connect = ctx.db._connect

    def traced(*a, **kw):
        conn = real_connect(*a, **kw)
        conn.set_trace_callback(statements.append)
        return conn
    monkeypatch.setattr(ctx.db, "_connect", traced)
    plain_linkage("Fake")
    apps = [SoftwareItem(f"App {n}", "1.0") for n in range(4)]
    first = [[record(f"d{n}", software=apps) for n in range(5)]]
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(first))).status == "succeeded"
    dropped = [s for s in statements if s.startswith("DROP INDEX")]
    assert len(dropped) == 2 and sum(s in indexes.values() for s in statements) == 2
    assert _software_indexes(ctx.db) == indexes
    assert Software.select().count() == 20
    assert_consistent()

    statements.clear()                                          # a failure after the drop: all rolled back
    bigger = [[record(f"d{n}", software=apps) for n in range(5)] + [record(f"e{n}", software=apps) for n in range(9)]]
    monkeypatch.setattr(stored_software, "settle", lambda db: (_ for _ in ()).throw(RuntimeError("disk full")))
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(bigger))).status == "failed"
    assert any(s.startswith("DROP INDEX") for s in statements)
    assert _software_indexes(ctx.db) == indexes and Software.select().count() == 20
    monkeypatch.undo()

    statements.clear()
    ctx.db._connect = traced                                  # (undo restored the plain connect)
    small = [[record(f"d{n}", software=apps) for n in range(5)] + [record("f1", software=apps)]]
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 3, raising=False)
    assert run(ctx, "Fake", connector_factory=scripted(ScriptedConnector(small))).status == "succeeded"
    assert not any(s.startswith("DROP INDEX") for s in statements)      # 4 rows into 20: row by row
    assert Software.select().count() == 24 and _software_indexes(ctx.db) == indexes
    assert_consistent()
