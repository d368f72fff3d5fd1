"""The console's filter finds IMEIs and phone numbers however the admin types them (issue 14 item 12)."""

from __future__ import annotations

import re

from tui_helpers import devices_table, settle, type_filter

from mdmtui.storage.models import Device
from mdmtui.screens.app import create_app


def sent_grouped(sim) -> tuple[str, str]:
    """(MDM id, IMEI as Graph sends it) of an Intune device with a SIM."""
    for ident in sim.device_ids("intune"):
        imei = sim.truth("intune", ident)["imei"]
        if re.fullmatch(r"\d{2} \d{6} \d{6} \d", imei or ""):
            return ident, imei
    raise AssertionError("no Intune device with an IMEI")


async def test_filter_finds_an_imei_typed_with_dashes_and_a_national_phone_number(fleet, sim):
    ident, imei = sent_grouped(sim)
    with fleet.db.connection_context():
        dev = Device.get(Device.mdm_device_id == ident)
        phone_dev = Device.get(Device.phone_number.startswith("+81") & Device.linkage_name.is_null(False))
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await type_filter(pilot, imei.replace(" ", "-"))
        assert devices_table(app).row_count == 1
        assert devices_table(app).cursor_row.id == dev.id
        national = "0" + re.sub(r"\D", "", phone_dev.phone_number)[2:]
        await type_filter(pilot, f"{national[:3]}-{national[3:7]}")  # 090-1234: the start of a number
        table = devices_table(app)
        found = [table.row_at(i).id for i in range(min(table.row_count, 50))]
        assert phone_dev.id in found
