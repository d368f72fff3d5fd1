"""What the database can hold of MDM data: the adjustments, and that plain values pass untouched."""

from __future__ import annotations

import pytest

from mdmtui.storage import storable
from mdmtui.records import DeviceRecord, OsClass, SoftwareItem


@pytest.mark.parametrize("value, limit, expected, what", [
    ("plain ascii", None, "plain ascii", None),
    ("営業部の iPhone 😀", None, "営業部の iPhone 😀", None),  # non-ASCII and astral characters are fine
    ("a\x00b\x00", None, "a\ufffdb\ufffd", "2 NUL characters replaced by U+FFFD"),
    ("x\ud800y", None, "x\ufffdy", "1 invalid character (lone UTF-16 surrogate) replaced by U+FFFD"),
    ("名" * 501, 500, "名" * 500, "cut to 500 characters (was 501)"),
    ("\x00" + "n" * 600, 500, "\ufffd" + "n" * 499,
     "1 NUL character replaced by U+FFFD; cut to 500 characters (was 601)"),
    ("\x1b[2J\r\b", None, "\x1b[2J\r\b", None),  # storable as they are: escaping is the display's job
])
def test_text(value, limit, expected, what):
    assert storable.text(value, limit) == (expected, what)


def test_indexed_columns_are_the_ones_the_models_index():
    assert storable.INDEXED == {"computer_name", "serial_number", "imei", "udid", "mdm_device_id"}


def test_a_plain_device_is_left_exactly_as_it_was():
    record = DeviceRecord("id-1", OsClass.M, computer_name="営業部", model="x" * 5000, ram_total_bytes=2**62,
                          storage_total_bytes=2**62, software=[SoftwareItem("乗換案内", None, "ジョルダン")])
    before = repr(record)
    assert storable.device(record) == (True, []) and repr(record) == before


def test_large_but_valid_numbers_are_kept_even_when_their_sum_overflows():
    record = DeviceRecord("id-1", OsClass.M, ram_total_bytes=2**62, ram_free_bytes=2**62, storage_total_bytes=-2**62)
    assert storable.device(record) == (True, [])
    assert record.ram_total_bytes == 2**62 and record.storage_total_bytes == -2**62


def test_each_odd_value_is_named_with_its_device():
    record = DeviceRecord("id-\x1b", OsClass.M, computer_name="a\x00", imei="\ud83d", storage_free_bytes=-2**64,
                          software=[SoftwareItem("ok"), SoftwareItem("b\x00", "1\x00")])
    keep, adjustments = storable.device(record)
    assert keep and [str(a) for a in adjustments] == [
        "device 'a\ufffd' (MDM id 'id-\\x1b'): computer name: 1 NUL character replaced by U+FFFD",
        "device 'a\ufffd' (MDM id 'id-\\x1b'): imei: 1 invalid character (lone UTF-16 surrogate) replaced by U+FFFD",
        "device 'a\ufffd' (MDM id 'id-\\x1b'): storage free bytes: -18446744073709551616 is beyond 64 bits: "
        "not collected",
        "device 'a\ufffd' (MDM id 'id-\\x1b'): software: 2 values with NUL or invalid characters (replaced by "
        "U+FFFD) or too long for the software index (cut to 300 characters a name, 100 a version)",
    ]
    assert (record.imei, record.storage_free_bytes, record.software[1].version) == ("\ufffd", None, "1\ufffd")
