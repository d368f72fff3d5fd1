"""Schema versions: an old database upgrades with its data intact and ends up like a fresh one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from peewee import PostgresqlDatabase

from mdmtui.storage import db as dbmod
from mdmtui.storage import models
from mdmtui.errors import ConfigurationError

DATA = Path(__file__).parent / "data"
OLDEST = 1


def dialect(database) -> str:
    return "postgres" if isinstance(database, PostgresqlDatabase) else "sqlite"


def create_frozen_schema(database, version: int) -> None:
    """Build the schema of ``version`` from its frozen SQL (never from today's models)."""
    sql = (DATA / f"schema_v{version}_{dialect(database)}.sql").read_text(encoding="utf-8")
    with database.atomic():
        for statement in sql.split(";\n"):
            lines = [ln for ln in statement.splitlines() if not ln.startswith("--")]
            if "".join(lines).strip():
                database.execute_sql("\n".join(lines))
        database.execute_sql('INSERT INTO "schema_version" ("version") VALUES (%d)' % version)


def open_raw(url: str):
    """Bind the models to ``url`` without creating or migrating anything."""
    return dbmod.init_database(url, migrate_schema=False)


def insert_v1_data(database) -> None:
    """Rows as version 1 stored them, written with plain SQL (v1 had no fingerprint column)."""
    now = datetime(2026, 11, 27, 0, 30)
    run = database.execute_sql
    run('INSERT INTO "linkage" ("name", "system", "server_url", "verify_tls", "timeout_s", "enabled", '
        '"auto_manage", "user", "password_enc", "created_at", "updated_at") '
        "VALUES (%s, 'sdm', 'https://sdm01:26055', %s, 60.0, %s, %s, 'admin', 'gAAAAB-ciphertext', %s, %s)"
        .replace("%s", database.param), ("東京 SDM", True, True, True, now, now))
    run('INSERT INTO "device" ("linkage_id", "linkage_name", "mdm_device_id", "os_class", "computer_name", '
        '"storage_total_bytes", "imei", "consumes_license", "managed", "orphaned", "first_seen_at", '
        '"last_alive_at") VALUES (1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)'.replace("%s", database.param),
        ("東京 SDM", "dev-1", "Si", "営業部の iPhone 15", 512 * 1024**3, "356789012345678", True, True,
         False, now, now))
    run('INSERT INTO "software" ("device_id", "name", "version", "vendor") VALUES (1, %s, %s, %s)'
        .replace("%s", database.param), ("乗換案内", "5.1", "ジョルダン"))
    run('INSERT INTO "audit_event" ("at", "os_user", "host", "category", "action", "linkage_name", "outcome", '
        '"message") VALUES (%s, %s, %s, %s, %s, %s, %s, %s)'.replace("%s", database.param),
        (now, "admin", "itdm01", "settings", "linkage.create", "東京 SDM", "succeeded", "追加しました"))


def test_v1_database_migrates_with_data_intact(db_url):
    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    insert_v1_data(database)
    assert dbmod.schema_version(database) == OLDEST

    assert dbmod.migrate(database) == dbmod.CURRENT_VERSION
    assert dbmod.schema_version(database) == dbmod.CURRENT_VERSION
    device = models.Device.get(models.Device.mdm_device_id == "dev-1")
    assert device.computer_name == "営業部の iPhone 15"
    assert device.storage_total_bytes == 512 * 1024**3 and device.imei == "356789012345678"
    assert device.linkage.name == "東京 SDM" and device.linkage.password_enc == "gAAAAB-ciphertext"
    assert device.last_alive_at.isoformat() == "2026-11-27T00:30:00+00:00"
    assert device.fingerprint is None  # added by version 2, empty for old rows
    assert [(s.name, s.vendor) for s in device.software] == [("乗換案内", "ジョルダン")]
    assert models.AuditEvent.get().message == "追加しました"
    device.fingerprint = "abc"  # the new column is writable
    device.save()
    assert models.Device.get_by_id(device.id).fingerprint == "abc"
    database.close()


def schema_of(database) -> dict:
    """Tables, columns (type, null, primary key), indexes and foreign keys, as comparable sets."""
    shape = {}
    for table in sorted(database.get_tables()):
        columns = {(c.name, c.data_type.lower(), c.null, c.primary_key) for c in database.get_columns(table)}
        indexes = {(tuple(i.columns), i.unique) for i in database.get_indexes(table)}
        keys = {(k.column, k.dest_table, k.dest_column) for k in database.get_foreign_keys(table)}
        shape[table] = {"columns": columns, "indexes": indexes, "foreign_keys": keys}
    return shape


def test_migrated_schema_equals_fresh_schema(db_url, tmp_path):
    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    dbmod.migrate(database)
    migrated = schema_of(database)
    for table in reversed(database.get_tables()):
        database.execute_sql(f'DROP TABLE "{table}" CASCADE' if dialect(database) == "postgres"
                             else f'DROP TABLE "{table}"')
    dbmod.migrate(database)
    fresh = schema_of(database)
    assert migrated.keys() == fresh.keys()
    for table in fresh:
        assert migrated[table] == fresh[table], (
            f"table {table}: a model change has no migration (see mdmtui/storage/migrations.py)")
    database.close()


def test_migration_is_idempotent(db_url):
    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    dbmod.migrate(database)
    assert dbmod.migrate(database) == dbmod.CURRENT_VERSION
    assert models.SchemaVersion.select().count() == 1
    database.close()


def test_database_newer_than_code_is_refused(db_url):
    database = dbmod.init_database(db_url)
    models.SchemaVersion.update(version=dbmod.CURRENT_VERSION + 1).execute()
    database.close()
    with pytest.raises(ConfigurationError, match=rf"schema is version {dbmod.CURRENT_VERSION + 1}, newer than "
                       rf"this mdmtui understands \({dbmod.CURRENT_VERSION}\): upgrade mdmtui"):
        dbmod.init_database(db_url)
    models.SchemaVersion._meta.database.close()  # the refused database: the models were bound to it


def test_every_added_column_exists_in_a_model():
    from mdmtui.storage import migrations

    for version, columns in migrations.ADDED_COLUMNS.items():
        assert version <= dbmod.CURRENT_VERSION
        for table, column in columns:
            assert migrations.model_field(table, column) is not None


def test_frozen_snapshots_exist_for_both_dialects():
    for name in ("sqlite", "postgres"):
        text = (DATA / f"schema_v{OLDEST}_{name}.sql").read_text(encoding="utf-8")
        assert 'CREATE TABLE "device"' in text and "fingerprint" not in text


def test_unreachable_postgres_is_one_clear_line():
    with pytest.raises(ConfigurationError) as info:
        dbmod.init_database("postgresql://mdm:hunter2@127.0.0.1:1/mdmtui?connect_timeout=2")
    text = str(info.value)
    assert text.startswith("cannot open database postgresql://mdm:***@127.0.0.1:1/mdmtui")
    assert "is PostgreSQL running" in text and "hunter2" not in text and "\n" not in text


def test_sqlite_file_is_private(tmp_path):
    database = dbmod.init_database(f"sqlite:///{tmp_path / 'd' / 'm.db'}")
    assert (tmp_path / "d" / "m.db").stat().st_mode & 0o077 == 0
    database.close()


def test_bad_database_url_is_refused():
    with pytest.raises(ConfigurationError, match="unsupported database URL 'mysql://u:\\*\\*\\*@h/db'"):
        dbmod.open_database("mysql://u:pw@h/db")


def insert_v2_devices(database) -> None:
    """Devices as version 2 stored them: identifiers as the MDM sent them, the old search text."""
    now = datetime(2026, 11, 27, 0, 30)
    rows = [  # (mdm id, IMEI, ICCID, phone, search text)
        ("grouped", "35 391808 912345 6", "8981 1000 1234 5678 901", "+81 90-1234-5678",
         "iphone\x1f35 391808 912345 6\x1f+81 90-1234-5678"),
        ("dashed", "35-391808-912345-7", None, "070-9307-9041", None),  # no collection wrote its search text
        ("plain", "356789012345678", "8981100012345678902", "09011112222", "pixel\x1f356789012345678\x1f09011112222"),
    ]
    sql = ('INSERT INTO "device" ("linkage_id", "linkage_name", "mdm_device_id", "os_class", "computer_name", '
           '"imei", "iccid", "phone_number", "search_text", "consumes_license", "managed", "orphaned", '
           '"first_seen_at") VALUES (NULL, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)')
    sql = sql.replace("%s", database.param)
    for mdm_id, imei, iccid, phone, text in rows:
        database.execute_sql(sql, ("Intune", mdm_id, "IS", mdm_id, imei, iccid, phone, text, False, True, False, now))


def test_v4_stores_identifiers_as_digits_and_recomputes_the_search_text(db_url):
    from mdmtui.storage import migrations
    from mdmtui.services import inventory

    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    dbmod.MIGRATIONS[2](database, dbmod.migrator_for(database))  # a version-2 database, with search text
    models.SchemaVersion.update(version=2).execute()
    insert_v2_devices(database)

    assert dbmod.migrate(database) == dbmod.CURRENT_VERSION >= 4
    by_id = {d.mdm_device_id: d for d in models.Device.select()}
    assert (by_id["grouped"].imei, by_id["grouped"].iccid) == ("353918089123456", "8981100012345678901")
    assert by_id["dashed"].imei == "353918089123457" and by_id["plain"].imei == "356789012345678"
    assert by_id["grouped"].phone_number == "+81 90-1234-5678"  # phones stay as the MDM sent them
    assert "+819012345678" in by_id["grouped"].search_text and "09012345678" in by_id["grouped"].search_text
    assert by_id["dashed"].search_text is None  # searched through its columns, as before
    found = {f: [d.mdm_device_id for d in inventory.page(inventory.DeviceFilter(text=f))]
             for f in ("35 391808 912345 6", "090-1234", "353918089123457", "35-678901")}
    assert found == {"35 391808 912345 6": ["grouped"], "090-1234": ["grouped"], "353918089123457": ["dashed"],
                     "35-678901": ["plain"]}
    assert migrations.normalise_identifiers(database) == 0  # nothing left to rewrite


def test_v1_database_takes_long_mdm_values_after_migrating(db_url):
    """Version 5 made MDM data TEXT: PostgreSQL refused a name over 255 characters (issue 11 #7)."""
    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    insert_v1_data(database)
    dbmod.migrate(database)
    device = models.Device.get(models.Device.mdm_device_id == "dev-1")
    device.computer_name, device.change_marker = "名" * 400, "m" * 1000
    device.save()
    models.Software.create(device=device, name="a" * 300, version="v" * 300, vendor="ジ" * 300)
    assert models.Device.get_by_id(device.id).computer_name == "名" * 400
    assert [s.name for s in device.software] == ["乗換案内", "a" * 300]  # the v1 rows survived the retyping
    if dialect(database) == "sqlite":
        assert database.execute_sql("PRAGMA integrity_check").fetchall() == [("ok",)]
    database.close()


def insert_old_run(database) -> None:
    """A collection run as the oldest schema stored it."""
    database.execute_sql('INSERT INTO "collection_run" ("linkage_id", "linkage_name", "trigger", "status", '
                         '"started_at", "new", "changed", "unchanged", "missing", "returned", "software_items", '
                         '"pages", "devices_seen") VALUES (1, %s, %s, %s, %s, 0, 0, 0, 0, 0, 0, 0, 0)'
                         .replace("%s", database.param),
                         ("東京 SDM", "scheduled", "succeeded", datetime(2026, 11, 27, 0, 30)))


def test_v7_old_runs_count_as_full_and_bound_no_changed_only_run(db_url):
    """Step 7: runs from before it are full runs without an MDM start time, so the first changed-only
    run after the upgrade lists everything instead of trusting this machine's clock."""
    from mdmtui.services.collection import changed_since

    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    insert_v1_data(database)
    insert_old_run(database)
    dbmod.migrate(database)
    run = models.CollectionRun.get()
    assert (run.kind, run.mdm_started_at) == ("full", None)
    linkage = models.Linkage.get()
    assert (linkage.changed_schedule, linkage.last_changed_run_at) == (None, None)
    assert changed_since(linkage) is None
    database.close()


def test_v9_counts_the_stored_software_and_cuts_names_too_long_for_its_index(db_url):
    """Step 9 back-fills the fleet's software counts from the rows already stored."""
    from mdmtui.services import software

    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    insert_v1_data(database)
    for version in sorted(v for v in dbmod.MIGRATIONS if v < 9):  # the schema just before step 9
        dbmod.MIGRATIONS[version](database, dbmod.migrator_for(database))
        models.SchemaVersion.update(version=version).execute()
    database.execute_sql('INSERT INTO "software" ("device_id", "name", "version", "vendor") VALUES (1, %s, %s, NULL)'
                         .replace("%s", database.param), ("長" * 1000, "9" * 500))
    dbmod.migrate(database)
    title = software.title("乗換案内")
    assert (title.devices, title.versions, title.top_version, title.vendor, title.linkages) == (
        1, 1, "5.1", "ジョルダン", ["東京 SDM"])
    long = software.title("長" * 300)
    assert [v.version for v in software.versions(long.name)] == ["9" * 100]
    assert software.count_titles(software.TitleFilter(text="乗換")) == 1
    database.close()


def test_v10_old_runs_have_no_inventory_total(db_url):
    """Step 10: a run from before it does not know the inventory's size: NULL (not collected), never 0."""
    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    insert_v1_data(database)
    insert_old_run(database)
    dbmod.migrate(database)
    assert models.CollectionRun.get().inventory_total is None
    assert dbmod.schema_version(database) == dbmod.CURRENT_VERSION
    database.close()


V11_SEARCH_SQL = [  # version 11's device search on SQLite, frozen: an FTS5 table keyed by the device id
    "CREATE VIRTUAL TABLE device_fts USING fts5(doc, tokenize = 'trigram')",
    "CREATE TRIGGER device_fts_insert AFTER INSERT ON device BEGIN INSERT INTO device_fts(rowid, doc) VALUES "
    "(new.id, COALESCE(new.search_text, COALESCE(lower(new.computer_name), ''))); END",
    "CREATE TRIGGER device_fts_delete AFTER DELETE ON device BEGIN DELETE FROM device_fts WHERE rowid = old.id; END",
]


def test_v12_keys_an_existing_sqlite_database_in_name_order(db_url, monkeypatch):
    """Step 12: a version-11 SQLite database (its FTS table keyed by id) gets name_key and both keyed FTS
    tables, filled from the rows there; PostgreSQL keeps its pg_trgm index and has no name_key."""
    from mdmtui.services import inventory
    from mdmtui.storage import devices, search_index

    database = open_raw(db_url)
    create_frozen_schema(database, OLDEST)
    for version in sorted(v for v in dbmod.MIGRATIONS if v <= 11):  # today's steps up to 11 ...
        dbmod.MIGRATIONS[version](database, dbmod.migrator_for(database))
        models.SchemaVersion.update(version=version).execute()
    if dialect(database) == "sqlite":  # ... and the search as version 11 left it
        for name in search_index._TRIGGERS:
            database.execute_sql(f"DROP TRIGGER {name}")
        for table in (search_index.FTS_TABLE, search_index.SHORT_TABLE, search_index.QUEUE_TABLE):
            database.execute_sql(f"DROP TABLE {table}")
        for index in (search_index.KEY_INDEX, search_index.UNKEYED_INDEX):
            database.execute_sql(f"DROP INDEX {index}")
        database.execute_sql(f"ALTER TABLE device DROP COLUMN {search_index.KEY}")
        for statement in V11_SEARCH_SQL:
            database.execute_sql(statement)
    insert_v1_data(database)
    insert_v2_devices(database)
    assert dbmod.migrate(database) == dbmod.CURRENT_VERSION == 12
    names = {d.id: d.computer_name for d in models.Device.select()}
    for text in ("i", "p", "35", "iphone"):  # one character, two, more: as the plain LIKE search finds them
        found = [d.id for d in inventory.page(inventory.DeviceFilter(text=text))]
        with monkeypatch.context() as m:
            m.setattr(search_index, "condition", lambda needles: None)
            m.setattr(devices, "_keyed_route", lambda f: None)
            assert found == [d.id for d in inventory.page(inventory.DeviceFilter(text=text))] != [], text
    assert [d.computer_name for d in inventory.page(inventory.DeviceFilter(text="営業", descending=True))] == [
        "営業部の iPhone 15"]
    columns = {c.name for c in database.get_columns("device")}
    if dialect(database) == "sqlite":
        keys = database.execute_sql(f"SELECT id FROM device ORDER BY {search_index.KEY}").fetchall()
        assert [i for (i,) in keys] == sorted(names, key=lambda i: names[i])
        assert database.execute_sql(f"SELECT count(*) FROM {search_index.SHORT_TABLE}").fetchone() == (len(names),)
        assert not database.execute_sql("SELECT name FROM sqlite_master WHERE name LIKE 'device_fts_insert'").fetchall()
    else:
        assert search_index.KEY not in columns
    database.close()
