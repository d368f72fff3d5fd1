"""The storage layer opens, migrates and round-trips on SQLite and PostgreSQL."""

from datetime import datetime, timedelta, timezone

from mdmtui import db as dbmod
from mdmtui.models import Device, Linkage, SchemaVersion


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
