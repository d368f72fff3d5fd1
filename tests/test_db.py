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
