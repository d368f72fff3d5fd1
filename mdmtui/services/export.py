"""Exports of the inventory (CLI and console): every item, the set values and asset information.

No secret lives in a device row, so none can reach an export. Times are in the server's local
time zone with their offset; rows stream, so memory stays flat at any fleet size.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any, TextIO

from mdmtui.services import inventory, software
from mdmtui.services.inventory import DeviceFilter

FORMATS = ("csv", "json")


def columns() -> list[str]:
    """The export's columns, in order."""
    return list(inventory.EXPORT_COLUMNS) + [f"asset_{k}" for k in inventory.ASSET_FIELDS]


def write_devices(out: TextIO, f: DeviceFilter, fmt: str) -> int:
    """Write the devices matching ``f`` (in its order) as CSV or JSON; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    return (_write_csv if fmt == "csv" else _write_json)(out, f)


def _local(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone().isoformat(timespec="seconds")
    return value


# A cell starting with these is run as a formula by spreadsheet programs; device and user names
# come from end users through the MDM, so an export must not carry them live.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return _local(value)


def _write_csv(out: TextIO, f: DeviceFilter) -> int:
    names = columns()
    writer = csv.writer(out)
    writer.writerow(names)
    count = 0
    for device, asset in inventory.iter_devices(f):
        row = inventory.export_row(device, asset)
        writer.writerow([_csv_cell(row[c]) for c in names])
        count += 1
    return count


def _write_json(out: TextIO, f: DeviceFilter) -> int:
    out.write("[")
    count = 0
    for device, asset in inventory.iter_devices(f):
        row = {k: _local(v) for k, v in inventory.export_row(device, asset).items()}
        out.write(("," if count else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


SOFTWARE_COLUMNS = ("title", "vendor", "title_devices", "versions", "version", "devices", "linkages")


def write_software(out: TextIO, f: software.TitleFilter, fmt: str, chunk: int = 500) -> int:
    """Write the titles matching ``f`` (in its order), one line per version, as CSV or JSON; returns how
    many titles. A version not collected is empty (CSV) or null (JSON)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(SOFTWARE_COLUMNS)
    else:
        out.write("[")
    titles = lines = 0
    while page := software.titles(f, titles, chunk):
        for t in page:
            for v in software.versions(t.name):
                row = (t.name, t.vendor or v.vendor, t.devices, t.versions, v.version, v.devices, v.linkages)
                if writer:
                    writer.writerow([_csv_cell(c) for c in row[:-1]] + [_csv_cell(", ".join(v.linkages))])
                else:
                    out.write(("," if lines else "") + "\n  " + json.dumps(dict(zip(SOFTWARE_COLUMNS, row)),
                                                                          ensure_ascii=False))
                lines += 1
        titles += len(page)
    if not writer:
        out.write("\n]\n" if lines else "]\n")
    return titles
