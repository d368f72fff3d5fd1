"""Canonical identifiers and phone numbers: what is stored, compared and searched."""

from __future__ import annotations

import pytest

from mdmtui import identifiers as ids
from mdmtui.errors import NotFoundError
from mdmtui.services.collection import search_text


@pytest.mark.parametrize(("sent", "stored"), [
    ("35 391808 912345 6", "353918089123456"),
    ("35-391808-912345-6", "353918089123456"),
    (" 353918089123456 ", "353918089123456"),
    ("8981 1000 1234 5678 901", "8981100012345678901"),
    ("a0 000012 345678", "A0000012345678"),  # a hex MEID
    ("000000000000000", None),  # a placeholder, not an IMEI: it must never match another device
    ("", None), (None, None), ("  ", None),
    ("Unknown IMEI", "Unknown IMEI"),  # not a number: kept as sent rather than guessed
])
def test_hardware_ids_are_stored_without_separators(sent, stored):
    assert ids.hardware_id(sent) == stored


@pytest.mark.parametrize("sent", ["+819012345678", "+81 90-1234-5678", "090-1234-5678", "09012345678",
                                  "(090) 1234 5678"])
def test_every_form_of_a_japanese_number_is_the_same_number(sent):
    assert ids.e164(sent) == "+819012345678" and ids.national(sent) == "09012345678"
    assert ids.phone_key(sent) == "+819012345678"


def test_numbers_of_unknown_country_compare_by_their_digits():
    assert ids.e164("9012345678") is None and ids.phone_key("9012345678") == "9012345678"
    assert ids.e164("+1 415 273 9164") == "+14152739164" and ids.national("+14152739164") is None
    assert ids.e164("0041 44 123 45 67") is None  # an international prefix is not a national number


def test_phone_matching_by_any_form_and_by_the_bare_national_number():
    stored = "+81 70-9307-9041"
    for typed in ("07093079041", "070-9307-9041", "+817093079041", "7093079041"):
        assert ids.phone_matches(typed, stored), typed
    for typed in ("07093079042", "709307904", "0709307", "+447093079041"):
        assert not ids.phone_matches(typed, stored), typed


def test_search_needles_strip_separators_from_numbers_only():
    assert ids.search_needles("35-391808-912345-6") == ["35-391808-912345-6", "353918089123456"]
    assert ids.search_needles("090-1994") == ["090-1994", "0901994"]
    assert ids.search_needles("+81 90") == ["+81 90", "+8190"]
    assert ids.search_needles("0012") == ["0012"]
    assert ids.search_needles("iPhone 15") == ["iPhone 15"]  # words keep their spaces
    assert ids.search_needles("SC-54D") == ["SC-54D"]


def test_search_text_holds_a_phone_in_every_form():
    text = search_text({"computer_name": "営業部の iPhone", "phone_number": "+81 70-9307-9041",
                        "imei": "353918089123456"})
    parts = text.split("\x1f")
    assert parts[0] == "営業部の iphone" and "353918089123456" in parts
    assert {"+81 70-9307-9041", "+817093079041", "07093079041"} <= set(parts)
    assert "0709307" in text and "7093079041" in text


def test_lookup_reads_a_hex_meid_only_with_its_prefix(sqlite_ctx):
    from mdmtui.storage.models import Device
    from mdmtui.services import lookup

    dev = Device.create(mdm_device_id="m1", os_class="SA", computer_name="CDMA phone", imei="A0000012345678")
    assert lookup.resolve(sqlite_ctx, "imei:a0 000012 345678").id == dev.id
    with pytest.raises(NotFoundError):  # a bare hex word is no IMEI: it could be a name or a serial
        lookup.resolve(sqlite_ctx, "A0000012345678")
