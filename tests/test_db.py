"""The storage layer opens, migrates and round-trips on SQLite and PostgreSQL."""

from datetime import datetime, timedelta, timezone

from mdmtui.storage import db as dbmod
from mdmtui.storage.models import Device, Linkage, SchemaVersion


def test_fresh_database_is_at_current_version(ctx):
    assert SchemaVersion.get().version == dbmod.CURRENT_VERSION
    assert dbmod.migrate(ctx.db) == dbmod.CURRENT_VERSION  # idempotent


def test_timestamps_round_trip_as_aware_utc(ctx):
    link = Linkage.create(name="東京 MDM", system="sdm", server_url="https://sdm01:26055")
    jst = timezone(timedelta(hours=9))
    seen = datetime(2026, 11, 27, 9, 30, tzinfo=jst)
    dev = Device.create(linkage=link, mdm_device_id="d1", os_class="Si", last_alive_at=seen,
                        storage_total_bytes=512 * 1024**3, computer_name="営業部の iPhone")
    again = Device.get_by_id(dev.id)
    assert again.last_alive_at == seen
    assert again.last_alive_at.tzinfo is not None and again.last_alive_at.utcoffset() == timedelta(0)
    assert again.storage_total_bytes == 512 * 1024**3
    assert again.computer_name == "営業部の iPhone"
    assert again.imei is None  # not collected stays NULL


def test_postgres_url_without_the_driver_says_which_extra_to_install(monkeypatch):
    import pytest

    from mdmtui.errors import ConfigurationError

    monkeypatch.setitem(__import__("sys").modules, "psycopg2", None)  # as if mdmtui[postgres] were not installed
    with pytest.raises(ConfigurationError, match=r"pip install 'mdmtui\[postgres\]'"):
        dbmod.open_database("postgresql://postgres@127.0.0.1:5432/test")
    assert isinstance(dbmod.open_database("sqlite:///:memory:"), dbmod.SqliteDatabase)  # SQLite needs nothing


def test_cli_on_postgres_without_the_driver_prints_one_line(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['psycopg2'] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
           "MDMTUI_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
           "MDMTUI_CONFIG_DIR": str(tmp_path / "config"), "MDMTUI_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "mdmtui", "devices", "list"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "mdmtui[postgres]" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# ------------------------------------------------------------------------- Storage: the one way in


def test_the_models_are_bound_to_the_contexts_database_with_no_proxy(ctx):
    from peewee import DatabaseProxy

    from mdmtui.storage import models

    assert not hasattr(models, "database")
    assert all(model._meta.database is ctx.db for model in models.ALL_MODELS)
    assert not isinstance(ctx.db, DatabaseProxy) and ctx.db is ctx.storage.database


async def test_run_does_the_work_in_a_worker_with_its_own_connection(ctx):
    import threading

    def where():
        Linkage.select().count()
        return threading.current_thread(), ctx.storage.in_worker(), ctx.db.connection()

    thread, in_worker, conn = await ctx.storage.run(where)
    assert in_worker and thread is not threading.current_thread()
    assert conn is not ctx.db.connection()  # a connection per thread
    assert not ctx.storage.in_worker()


async def test_concurrent_calls_run_concurrently_and_a_serial_lane_keeps_its_order(ctx):
    import asyncio
    import threading

    both = threading.Barrier(2, timeout=10)  # one worker for both would never get past it
    assert await asyncio.gather(ctx.storage.run(both.wait), ctx.storage.run(both.wait)) in ([0, 1], [1, 0])
    seen: list[int] = []

    def step(n: int) -> None:
        Linkage.select().count()
        seen.append(n)

    async with ctx.storage.serial() as db:
        await asyncio.gather(*(db.run(step, n) for n in range(8)))
    assert seen == list(range(8))


async def test_call_waits_from_a_thread_but_is_refused_on_the_event_loop(ctx):
    import asyncio

    import pytest

    from mdmtui.storage import WrongThread

    assert await asyncio.to_thread(ctx.storage.call, Linkage.select().count) == 0
    with pytest.raises(WrongThread, match="event loop"):
        ctx.storage.call(Linkage.select().count)
    assert await ctx.storage.run(ctx.storage.call, lambda: 7) == 7  # nested: runs in place
    with pytest.raises(WrongThread):
        ctx.storage.assert_worker()
    await ctx.storage.run(ctx.storage.assert_worker)


async def test_refusing_sql_here_fails_sql_on_this_thread_only(ctx):
    import pytest

    from mdmtui.storage import WrongThread

    with ctx.storage.refusing_sql_here() as offending:
        assert await ctx.storage.run(Linkage.select().count) == 0
        with pytest.raises(WrongThread):
            Linkage.select().count()
    assert len(offending) == 1 and "linkage" in offending[0]
    assert Linkage.select().count() == 0  # the guard is gone


async def test_close_ends_the_workers_and_closes_their_connections(db_url, tmp_path):
    import asyncio

    from mdmtui.services.context import open_context
    from mdmtui_testing import make_settings

    context = open_context(make_settings(tmp_path, db_url))
    conns = await asyncio.gather(*(context.storage.run(lambda: (Linkage.select().count(), context.db.connection())[1])
                                   for _ in range(3)))
    threads = list(context.storage._threads)
    context.storage.reconnect()  # the next job on each worker opens a new connection
    again = await context.storage.run(context.db.connection)
    assert again not in conns
    context.close()
    assert threads and not any(t.is_alive() for t in threads)
    context.close()  # twice is harmless


async def test_a_dedicated_lane_keeps_one_thread_and_one_connection_until_closed(ctx):
    """A collection's lane: its temporary tables live in the connection, so every step must find it."""
    import threading

    lane = ctx.storage.dedicated("collect-writer")
    seen = []

    def step():
        assert ctx.storage.in_worker()  # counted as a storage worker (the console's off-loop checks)
        seen.append((threading.get_ident(), id(ctx.db.connection())))

    for _ in range(3):
        await lane.run(step)
        await ctx.storage.run(lambda: None)  # other work in between goes to the pool, not to the lane
    await lane.close()
    assert len(set(seen)) == 1
    assert not ctx.storage.in_worker()
