"""CSV exports never carry a live spreadsheet formula from MDM-supplied text."""

import csv
import io

from mdmtui.storage.models import Device
from mdmtui.services import export
from mdmtui.services.inventory import DeviceFilter


def test_formula_like_names_are_defused_and_plain_values_kept(sqlite_ctx):
    Device.create(linkage=None, linkage_name="MI", mdm_device_id="x", os_class="M",
                  computer_name='=HYPERLINK("http://evil.example","x")', carrier="+81 docomo",
                  phone_number="09012345678", ram_total_bytes=4 * 2**30)
    out = io.StringIO()
    assert export.write_devices(out, DeviceFilter(), "csv") == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["computer_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["carrier"] == "'+81 docomo"
    assert row["phone_number"] == "09012345678" and row["ram_total_bytes"] == str(4 * 2**30)
