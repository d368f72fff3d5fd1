"""A known fleet for the overview's tests (service, CLI, console): each figure is known in advance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from collect_helpers import ScriptedConnector, plain_linkage, record, scripted

from mdmtui.storage.models import DeviceAction, utcnow
from mdmtui.records import OsClass
from mdmtui.services import collection, inventory
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


def build_known_fleet(ctx) -> dict[str, int]:
    """MI: a-e (e gone from the MDM at the second run), SDM: f (a's twin); actions on b, c, d."""
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
