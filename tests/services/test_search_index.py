"""The device search's trigram index finds exactly what a LIKE scan of the same text finds, on SQLite
(FTS5, kept by triggers) and PostgreSQL (pg_trgm), for Japanese, digits in any grouping and hostile text."""

from __future__ import annotations

import random

import pytest

from mdmtui.storage import db as dbmod
from mdmtui.storage.models import Device, Linkage
from mdmtui.services import inventory
from mdmtui.services.collection import search_text
from mdmtui.services.inventory import DeviceFilter
from mdmtui.storage import devices, search_index

NAMES = ["営業部の iPhone", "高橋 花子の iPhone", "Galaxy S24", "経理-PC-1", "ThinkPad X1", "総務 iPad",
         "100% pad", "o_p phone", 'quote " name', "NEAR OR AND *", "<b>[red]x</b>", "Ｆｕｌｌ幅"]


def make_fleet(n: int = 300, seed: int = 5) -> None:
    r = random.Random(seed)
    link = Linkage.create(name="L", system="sdm", server_url="https://sdm.example.test")
    for i in range(n):
        values = {"computer_name": f"{r.choice(NAMES)} {i:04d}", "serial_number": f"SN{r.randrange(10**8):08d}",
                  "imei": f"35{r.randrange(10**13):013d}", "phone_number": f"+8190{r.randrange(10**8):08d}",
                  "user_name": r.choice(["山田 太郎", "Sato", None])}
        # every tenth row as an older inventory left it: no search_text (the index reads the columns)
        text = None if i % 10 == 0 else search_text(values)
        Device.create(linkage=link, linkage_name="L", mdm_device_id=f"d{i}", os_class="Si", search_text=text,
                      **values)


def scanned(needle: str) -> set[int]:
    return {d.id for d in Device.select(Device.id).where(devices.like_condition(needle))}


def indexed(needle: str) -> set[int]:
    return {d.id for d in Device.select(Device.id).where(search_index.condition(needle.lower()))}


NEEDLES = ["ip", "営業", "00", "s2", '"*', "zq", "%", "_", "iphone", "営業部", "花子の", "0012", "pc-1", "sn0", "+8190", "9012", "山田 太", "100%", "o_p",
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
        if len(needle) < search_index.MIN_CHARS:
            assert search_index.condition(needle) is None  # too short for trigrams: the caller scans
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


def test_every_writer_keeps_the_index_current(ctx):
    make_fleet(20)
    device = Device.get(Device.mdm_device_id == "d3")
    Device.update(search_text="renamed zephyr", computer_name="zephyr").where(Device.id == device.id).execute()
    assert indexed("zephyr") == {device.id} and device.id not in indexed(device.serial_number.lower())
    Device.update(search_text=None).where(Device.id == device.id).execute()  # back to the columns
    assert indexed("zephyr") == {device.id}
    Device.delete().where(Device.id == device.id).execute()
    assert indexed("zephyr") == set()


def test_postgres_answers_from_the_trigram_index(ctx):
    if not search_index.postgres():
        pytest.skip("PostgreSQL only")
    make_fleet(50)
    ctx.db.execute_sql("SET enable_seqscan = off")  # a tiny table: make the planner show it can use the index
    plan = "\n".join(r[0] for r in ctx.db.execute_sql(
        "EXPLAIN " + Device.select(Device.id).where(search_index.condition("iphone")).sql()[0],
        Device.select(Device.id).where(search_index.condition("iphone")).sql()[1]).fetchall())
    assert search_index.PG_INDEX in plan, plan


def test_a_database_from_before_the_index_is_filled_by_its_migration(ctx):
    make_fleet(30)
    if search_index.postgres():
        ctx.db.execute_sql(f"DROP INDEX {search_index.PG_INDEX}")
    else:
        for name in ("insert", "update", "delete"):
            ctx.db.execute_sql(f"DROP TRIGGER device_fts_{name}")
        ctx.db.execute_sql(f"DROP TABLE {search_index.FTS_TABLE}")
    dbmod.MIGRATIONS[11](ctx.db, dbmod.migrator_for(ctx.db))
    assert indexed("iphone") == scanned("iphone") and indexed("iphone")
