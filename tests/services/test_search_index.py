"""The device search's trigram index finds exactly what a LIKE scan of the same text finds, on SQLite
(FTS5, kept by triggers, terms of any length) and PostgreSQL (pg_trgm), for Japanese, digits in any grouping
and hostile text; on SQLite the device list's pages through the keyed FTS join equal the scan's pages."""

from __future__ import annotations

import random

import pytest

from mdmtui.filterlang import Term
from mdmtui.storage import db as dbmod
from mdmtui.storage.models import Device, Linkage
from mdmtui.services import inventory
from mdmtui.services.collection import search_text
from mdmtui.services.inventory import DeviceFilter
from mdmtui.storage import devices, search_index

NAMES = ["営業部の iPhone", "高橋 花子の iPhone", "Galaxy S24", "経理-PC-1", "ThinkPad X1", "総務 iPad",
         "100% pad", "o_p phone", 'quote " name', "NEAR OR AND *", "<b>[red]x</b>", "Ｆｕｌｌ幅"]


def make_fleet(n: int = 300, seed: int = 5, drain: bool = True) -> None:
    r = random.Random(seed)
    link, _ = Linkage.get_or_create(name="L", defaults={"system": "sdm", "server_url": "https://sdm.example.test"})
    for i in range(n):
        name = None if i % 37 == 5 else f"{r.choice(NAMES)} {i % 250:04d}"  # some unnamed, some names twice
        values = {"computer_name": name, "serial_number": f"SN{r.randrange(10**8):08d}",
                  "imei": f"35{r.randrange(10**13):013d}", "phone_number": f"+8190{r.randrange(10**8):08d}",
                  "user_name": r.choice(["山田 太郎", "Sato", None])}
        # every tenth row as an older inventory left it: no search_text (the index reads the columns)
        text = None if i % 10 == 0 else search_text(values)
        Device.create(linkage=link, linkage_name="L", mdm_device_id=f"d{i}" if seed == 5 else f"s{seed}-{i}",
                      os_class="Si", search_text=text,
                      **values)
    if drain:  # the rows waiting in the queue into the FTS tables (the search scans the queue otherwise)
        search_index.drain(Device._meta.database)


def keyed() -> bool:
    return not search_index.postgres()


def scanned(needle: str) -> set[int]:
    return {d.id for d in Device.select(Device.id).where(devices.like_condition(needle))}


def indexed(needle: str) -> set[int]:
    return {d.id for d in Device.select(Device.id).where(search_index.condition([needle.lower()]))}


NEEDLES = ["i", "0", "営", "\"", " ", "-", "ip", "営業", "00", "s2", '"*', "zq", "%", "_", "1 ", "iphone", "営業部", "花子の", "0012", "pc-1", "sn0", "+8190", "9012", "山田 太", "100%", "o_p",
           '"', 'e "', "near or", "and *", "*", "<b>", "[red]", "ｆｕｌ", "no such thing", "ad x"]


def reference(needle: str) -> set[int]:
    """What a search must find: the text (or, unset, the columns) containing the term, any case."""
    found = set()
    for d in Device.select():
        doc = d.search_text or "\x1f".join((getattr(d, c) or "").lower() for c in search_index.SEARCHED)
        if needle.lower() in doc.lower():
            found.add(d.id)
    return found


def test_the_index_finds_what_the_scan_finds(ctx):
    make_fleet()
    for needle in NEEDLES:
        if len(needle) < search_index.MIN_CHARS and not keyed():
            assert search_index.condition([needle]) is None  # PostgreSQL: too short for trigrams, scanned
            continue
        assert indexed(needle) == reference(needle), needle
        # the scan's LIKE folds ASCII case only: a row without search_text whose name is in full-width
        # capitals is found by the index (which folds any case), not by the scan
        assert scanned(needle) <= indexed(needle), needle
        if needle.isascii():
            assert scanned(needle) == indexed(needle), needle
    assert len(indexed("iphone")) > 30 and not indexed("no such thing")
    for text in ("iP", "0", "営業", "35-", "090-1994", '"*', "os OR"):  # through the filter, long or short
        f = DeviceFilter(text=text)
        assert inventory.count(f) == len(inventory.ids(f))


# what the device list is asked for: free text, the filter language (terms of every length, negated text,
# fields), several text terms (on one FTS table or on both), numbers typed with separators
TEXTS = ["i", "0", "00", "001", "0012", "iP", "営", "営業", "os:iOS 営", "phone 0", "ip 営業部", "!ip 0",
         "0 !pad", "35-", "90-12", "user:山田 1", "no such", "e", '"1 0"', "花子の 01"]


def like_page(f: DeviceFilter, offset: int, limit: int, monkeypatch) -> list[int]:
    """The page of the plain LIKE search: no index, filtered with LIKE and sorted in SQL."""
    with monkeypatch.context() as m:
        m.setattr(search_index, "condition", lambda needles: None)
        m.setattr(devices, "_keyed_route", lambda f: None)
        return [r.id for r in devices.page(f, offset, limit)]


@pytest.mark.parametrize("queue", [False, True])
def test_pages_through_the_keyed_join_equal_the_like_search(ctx, monkeypatch, queue):
    """With every row in the FTS tables, and with some waiting in the queue (found by a scan)."""
    make_fleet(400 if not queue else 250, drain=not queue)
    if queue:
        make_fleet(150, seed=8, drain=False)
        assert search_index.queued() == keyed()
    every_third = [d.id for d in Device.select(Device.id).order_by(Device.id)][::3]
    Device.update(os_name="iOS").where(Device.id.in_(every_third)).execute()
    for text in TEXTS:
        for descending in (False, True):
            f = inventory.filter_text(text, sort="computer_name", descending=descending)
            if keyed() and not text.startswith("!"):
                assert devices._keyed_route(f) is not None, text
            for offset, limit in ((0, 100), (0, 7), (13, 40), (390, 100)):
                assert [r.id for r in devices.page(f, offset, limit)] == like_page(f, offset, limit, monkeypatch), (
                    text, descending, offset, limit)
            everything = like_page(f, 0, 10_000, monkeypatch)
            assert devices.ids(f) == everything and devices.count(f) == len(everything), text


def test_a_text_filter_makes_its_page_statement_once(ctx, monkeypatch):
    """A keystroke's page (text only, default order) reuses its SQL, made once per FTS table and order:
    making it again took a third of the page's time. The rows are those the scan finds, page by page."""
    if not keyed():
        pytest.skip("SQLite only: the keyed FTS join")
    make_fleet(300)
    monkeypatch.setattr(devices, "_STREAMED", {})
    pages = [(inventory.filter_text(text, sort="computer_name"), offset, limit)
             for text in ["0", "00", "001", "0012", "ip", "営業", "花子の", "sn0", "os:iOS 0", "os:iOS 00"]
             for offset, limit in ((0, 50), (50, 50), (7, 13))]
    expected = [like_page(f, offset, limit, monkeypatch) for f, offset, limit in pages]
    made: list[object] = []
    select = Device.select
    monkeypatch.setattr(Device, "select", lambda *columns: made.append(columns) or select(*columns))
    assert [[r.id for r in devices.page(f, offset, limit)] for f, offset, limit in pages] == expected
    made_again = len(made)  # the time is in the SQL of an age term: made at every keystroke
    for text in ["stale:>30d 0", "stale:>30d 00"]:
        assert [r.id for r in devices.page(inventory.filter_text(text, sort="computer_name"), 0, 50)] == like_page(
            inventory.filter_text(text, sort="computer_name"), 0, 50, monkeypatch)
    os_ios = (Term("iOS", "os"),)
    assert made_again == 3 and set(devices._STREAMED) == {
        (search_index.SHORT_TABLE, False, ()), (search_index.FTS_TABLE, False, ()),
        (search_index.SHORT_TABLE, False, os_ios)}


def test_one_and_two_characters_go_through_the_index(ctx):
    if not keyed():
        pytest.skip("SQLite only: PostgreSQL scans terms shorter than a trigram")
    make_fleet(60)
    for needle in ("i", "営", "ip", "00"):
        table, _ = search_index.match([needle])
        assert table == search_index.SHORT_TABLE
        f = DeviceFilter(text=needle)
        route = devices._keyed_route(f)
        assert route is not None and route[1] == search_index.SHORT_TABLE
        plan = " ".join(str(r) for r in ctx.db.execute_sql(
            "EXPLAIN QUERY PLAN " + Device.select(Device.id).where(search_index.condition([needle])).sql()[0],
            Device.select(Device.id).where(search_index.condition([needle])).sql()[1]).fetchall())
        assert search_index.SHORT_TABLE in plan and "VIRTUAL TABLE" in plan, plan
    assert search_index.match(["001"])[0] == search_index.FTS_TABLE


def in_default_order() -> list[int]:
    return [i for (i,) in ctx_sql("SELECT id FROM device ORDER BY computer_name IS NULL, computer_name, id")]


def by_key() -> list[int]:
    return [i for (i,) in ctx_sql(f"SELECT id FROM device ORDER BY {search_index.KEY}")]


def ctx_sql(query: str) -> list[tuple]:
    return list(Device._meta.database.execute_sql(query).fetchall())


def assert_keys_follow_the_order() -> None:
    assert not search_index.unkeyed()
    assert by_key() == in_default_order()
    key, queue = search_index.KEY, search_index.QUEUE_TABLE
    waiting = ctx_sql(f"SELECT {key} FROM device WHERE id IN (SELECT id FROM {queue})")
    everything = sorted(ctx_sql(f"SELECT {key} FROM device"))
    for table in (search_index.FTS_TABLE, search_index.SHORT_TABLE):  # each row in the FTS table or queued
        indexed = ctx_sql(f"SELECT rowid FROM {table} ORDER BY rowid")
        assert not set(indexed) & set(waiting) and sorted(indexed + waiting) == everything, table


def test_every_writer_keeps_the_keys_in_name_order(ctx, monkeypatch):
    if not keyed():
        pytest.skip("SQLite only: PostgreSQL has no name_key")
    make_fleet(120)
    assert_keys_follow_the_order()
    r = random.Random(3)
    ids = [d.id for d in Device.select(Device.id)]
    for step in range(150):
        device_id = r.choice(ids)
        name = r.choice([None, "営業部の iPhone 0001", f"renamed {r.randrange(50):02d}", "A", "ｚ"])
        Device.update(computer_name=name, search_text=None).where(Device.id == device_id).execute()
        if step % 10 == 0:
            Device.delete().where(Device.id == ids.pop(r.randrange(len(ids)))).execute()
    link = Linkage.get()
    rows = [dict(linkage=link.id, linkage_name="L", mdm_device_id=f"new{i}", os_class="Si",
                 computer_name=r.choice(["renamed 07", "B", None, f"x{i % 9}"])) for i in range(300)]
    for start in range(0, len(rows), 100):  # as a collection writes: many rows per INSERT
        Device.insert_many(rows[start:start + 100]).execute()
    assert_keys_follow_the_order()
    for text in ("renamed", "re", "b", "x", "0"):
        for descending in (False, True):
            f = DeviceFilter(text=text, descending=descending)
            assert [d.id for d in devices.page(f, 0, 500)] == like_page(f, 0, 500, monkeypatch), (text, descending)


def test_runs_in_name_order_keep_their_room(ctx):
    """Rows inserted in ascending and descending name order between two neighbours step away from the
    newer one, so thousands fit before a gap runs out (halving, ~40 would)."""
    if not keyed():
        pytest.skip("SQLite only")
    link = Linkage.create(name="L", system="sdm", server_url="https://sdm.example.test")
    row = dict(linkage=link.id, linkage_name="L", os_class="Si")
    Device.insert_many([dict(row, mdm_device_id="a", computer_name="a"),
                        dict(row, mdm_device_id="z", computer_name="z")]).execute()
    Device.insert_many([dict(row, mdm_device_id=f"u{i}", computer_name=f"m{i:05d}") for i in range(3000)]).execute()
    Device.insert_many([dict(row, mdm_device_id=f"d{i}", computer_name=f"n{9999 - i:05d}")
                        for i in range(3000)]).execute()
    assert_keys_follow_the_order()


def test_a_full_gap_leaves_a_row_unkeyed_and_the_search_still_finds_it(ctx, monkeypatch):
    if not keyed():
        pytest.skip("SQLite only")
    make_fleet(40)
    first, second = [i for (i,) in ctx_sql(
        "SELECT id FROM device WHERE computer_name IS NOT NULL ORDER BY computer_name, id LIMIT 2")]
    key = search_index.KEY
    # squeeze the first two names' keys together (a direct write of name_key fires no trigger)
    ctx.db.execute_sql(f"UPDATE device SET {key} = -1000 WHERE id = ?", (first,))
    ctx.db.execute_sql(f"UPDATE device SET {key} = -999 WHERE id = ?", (second,))
    for table in (search_index.FTS_TABLE, search_index.SHORT_TABLE):
        ctx.db.execute_sql(f"DELETE FROM {table}")
    for statement in search_index._fts_fill("1"):
        ctx.db.execute_sql(statement)
    (name,) = ctx_sql(f"SELECT computer_name FROM device WHERE id = {first}")[0]
    squeezed = Device.create(linkage=Linkage.get(), linkage_name="L", mdm_device_id="squeezed", os_class="Si",
                             computer_name=name, serial_number="ZZSQUEEZE")  # same name, higher id: between
    assert ctx_sql(f"SELECT {key} FROM device WHERE id = {squeezed.id}") == [(None,)]
    assert search_index.unkeyed()
    for text in ("zzsq", "zz", "z", name[:2]):
        f = DeviceFilter(text=text)
        assert devices._keyed_route(f) is None  # an unkeyed row: the IN route, which scans the unkeyed ones
        assert squeezed.id in devices.ids(f)
        assert [d.id for d in devices.page(f, 0, 100)] == like_page(f, 0, 100, monkeypatch), text
        assert devices.count(f) == len(like_page(f, 0, 1000, monkeypatch))
    assert search_index.renumber_if_unkeyed(ctx.db) and not search_index.renumber_if_unkeyed(ctx.db)
    assert_keys_follow_the_order()
    assert devices._keyed_route(DeviceFilter(text="zz")) is not None
    assert [d.id for d in devices.page(DeviceFilter(text="zzsq"))] == [squeezed.id]


def searched(needle: str) -> set[int]:
    """What the search finds: the index, and the rows still queued (scanned)."""
    return {d.id for d in Device.select(Device.id).where(devices.text_condition(needle))}


@pytest.mark.parametrize("drain", [False, True])
def test_every_writer_keeps_the_index_current(ctx, drain):
    make_fleet(20)
    device = Device.get(Device.mdm_device_id == "d3")
    Device.update(search_text="renamed zephyr", computer_name="zephyr").where(Device.id == device.id).execute()
    assert searched("zephyr") == {device.id} and device.id not in searched(device.serial_number.lower())
    if drain:
        search_index.drain(ctx.db)
        assert indexed("zephyr") == {device.id}
    Device.update(search_text=None).where(Device.id == device.id).execute()  # back to the columns
    assert searched("zephyr") == {device.id}
    Device.delete().where(Device.id == device.id).execute()
    assert searched("zephyr") == set()


def test_postgres_answers_from_the_trigram_index(ctx):
    if not search_index.postgres():
        pytest.skip("PostgreSQL only")
    make_fleet(50)
    ctx.db.execute_sql("SET enable_seqscan = off")  # a tiny table: make the planner show it can use the index
    plan = "\n".join(r[0] for r in ctx.db.execute_sql(
        "EXPLAIN " + Device.select(Device.id).where(search_index.condition(["iphone"])).sql()[0],
        Device.select(Device.id).where(search_index.condition(["iphone"])).sql()[1]).fetchall())
    assert search_index.PG_INDEX in plan, plan


def test_a_database_without_the_index_is_filled_by_its_migration(ctx):
    make_fleet(30)
    if search_index.postgres():
        ctx.db.execute_sql(f"DROP INDEX {search_index.PG_INDEX}")
    else:
        for name in search_index._TRIGGERS:
            ctx.db.execute_sql(f"DROP TRIGGER {name}")
        for table in (search_index.FTS_TABLE, search_index.SHORT_TABLE):
            ctx.db.execute_sql(f"DROP TABLE {table}")
    dbmod.MIGRATIONS[12](ctx.db, dbmod.migrator_for(ctx.db))
    assert indexed("iphone") == scanned("iphone") and indexed("iphone")
    if keyed():
        assert_keys_follow_the_order()
        assert indexed("p") == scanned("p")


def test_opening_the_database_renumbers_unkeyed_rows(ctx):
    """The migration runner (every open: console, CLI, daemon) gives unkeyed rows their keys."""
    if not keyed():
        pytest.skip("SQLite only")
    make_fleet(30)
    ctx.db.execute_sql(f"UPDATE device SET {search_index.KEY} = NULL WHERE id IN (3, 4)")
    ctx.db.execute_sql(f"INSERT INTO {search_index.QUEUE_TABLE}(id) VALUES (3), (4)")
    assert search_index.unkeyed()
    dbmod.migrate(ctx.db)
    assert_keys_follow_the_order()


async def test_a_collection_leaves_nothing_queued_or_unkeyed(sqlite_ctx):
    """A run's new rows enter the FTS tables at its end (fewer than a queue batch would wait, scanned), and a
    row left without a key is given one there: the next keystroke streams from the index."""
    from collect_helpers import ScriptedConnector, plain_linkage, record, scripted

    from mdmtui.services import collection

    db = sqlite_ctx.db
    plain_linkage("MI")
    make_fleet(40, drain=True)
    squeezed_name = ctx_sql("SELECT computer_name FROM device WHERE computer_name IS NOT NULL "
                            "ORDER BY computer_name, id LIMIT 1")[0][0]
    ctx_sql(f"UPDATE device SET {search_index.KEY} = NULL WHERE id = (SELECT max(id) FROM device)")  # no room left
    pages = [[record(f"mi{i}", computer_name=f"{squeezed_name} {i}", serial_number=f"MISN{i:04d}") for i in range(30)]]
    summary = await collection.collect(sqlite_ctx, "MI", connector_factory=scripted(ScriptedConnector(pages)))
    assert summary.status == "succeeded" and summary.new == 30
    with db.connection_context():
        assert not search_index.queued(db) and not search_index.unkeyed(db)
        assert_keys_follow_the_order()
        f = DeviceFilter(text="misn00")
        assert devices._keyed_route(f) is not None
        assert len(devices.page(f, 0, 100)) == 30
