"""The filter language in SQL (``DeviceFilter.terms``): every field, comparisons, negation and free text,
on SQLite and PostgreSQL, over devices written by a scripted collection."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from collect_helpers import ScriptedConnector, plain_linkage, record, scripted, software

from mdmtui.filterlang import FilterError
from mdmtui.storage.models import AssetInfo, Device, DeviceAction, utcnow
from mdmtui.records import OsClass
from mdmtui.services import collection, inventory
from mdmtui.services.inventory import DeviceFilter

NOW = utcnow()


def _mi() -> list:
    return [
        record("a", computer_name="高橋 花子の iPhone", serial_number="SERA", imei="351111111111111", os_name="iOS",
               os_version="17.4.1", model="iPhone15,2", carrier="NTT docomo", user_name="高橋 花子",
               phone_number="+81 70-9307-9041", passcode_set=True, jailbroken=True, encrypted=True,
               last_alive_at=NOW, software=software("Slack", "Maps")),
        record("b", computer_name="sato_phone", serial_number="SERB", imei="352222222222222", os_name="Android",
               os_version="14", model="Pixel 8", carrier="KDDI", user_name="Sato", passcode_set=False,
               last_alive_at=NOW - timedelta(days=45)),
        record("c", computer_name="old pad", serial_number="SERC", os_name="iOS", os_version="16.10",
               model="iPad7,5", carrier=None, user_name="Kim", passcode_set=True, jailbroken=False,
               encrypted=True, last_alive_at=NOW - timedelta(days=3)),
        record("d", computer_name="odd", serial_number="SERD", os_name="iOS", os_version="beta-9",
               last_alive_at=None),
    ]


@pytest.fixture
def fleet(ctx):
    plain_linkage("MI")
    plain_linkage("Intune 本社", system="intune")
    asyncio.run(collection.collect(ctx, "MI", connector_factory=scripted(ScriptedConnector([_mi()]))))
    pcs = [record("p1", os_class=OsClass.IP, device_type="PC", computer_name="経理-PC-1", serial_number="PCSER1",
                  os_name="Windows", os_version="10.0.22631.3007", last_alive_at=NOW)]
    asyncio.run(collection.collect(ctx, "Intune 本社", connector_factory=scripted(ScriptedConnector([pcs]))))
    by_name = {d.computer_name: d for d in Device.select()}
    AssetInfo.create(device=by_name["sato_phone"], asset_number="A-0042", department="営業部")
    DeviceAction.create(device=by_name["old pad"], linkage_name="MI", mdm_device_id="c", action="lock",
                        outcome="pending")
    Device.update(missing_since=NOW).where(Device.id == by_name["odd"].id).execute()
    return {name: d.id for name, d in by_name.items()}


def matching(text: str) -> list[str]:
    f = inventory.filter_text(text)
    found = sorted(d.computer_name for d in inventory.page(f, 0, 50))
    assert inventory.count(f) == len(found)
    return found


@pytest.mark.parametrize("text, expected", [
    ("os:iOS", ["odd", "old pad", "高橋 花子の iPhone"]),
    ("os:ip", ["経理-PC-1"]),  # an OS class code
    ("!os:iOS", ["sato_phone", "経理-PC-1"]),
    ("carrier:docomo", ["高橋 花子の iPhone"]),
    ("!carrier:docomo", ["odd", "old pad", "sato_phone", "経理-PC-1"]),  # no carrier is not docomo
    ('linkage:"Intune 本社"', ["経理-PC-1"]),
    ("linkage:=mi", ["odd", "old pad", "sato_phone", "高橋 花子の iPhone"]),
    ("linkage:=M", []),
    ("model:pixel", ["sato_phone"]),
    ("user:花子", ["高橋 花子の iPhone"]),
    ("serial:serc", ["old pad"]),
    ("imei:35-222222", ["sato_phone"]),
    ("phone:07093079041", ["高橋 花子の iPhone"]),
    ("phone:+817093079041", ["高橋 花子の iPhone"]),
    ("phone:070-9307", ["高橋 花子の iPhone"]),
    ("asset:0042", ["sato_phone"]), ("dept:営業", ["sato_phone"]), ("!dept:営業", [
        "odd", "old pad", "経理-PC-1", "高橋 花子の iPhone"]),
    ("software:slack", ["高橋 花子の iPhone"]), ("software:=maps", ["高橋 花子の iPhone"]),
    ("security:jailbroken", ["高橋 花子の iPhone"]), ("security:passcode", ["sato_phone"]),
    ("stale:>30d", ["sato_phone"]), ("seen:<7d", ["old pad", "経理-PC-1", "高橋 花子の iPhone"]),
    ("seen:>48h", ["old pad", "sato_phone"]), ("seen:>1w", ["sato_phone"]),
    ("missing:yes", ["odd"]), ("missing:no", ["old pad", "sato_phone", "経理-PC-1", "高橋 花子の iPhone"]),
    ("pending:yes", ["old pad"]), ("!pending:yes", ["odd", "sato_phone", "経理-PC-1", "高橋 花子の iPhone"]),
    ("status:UNKNOWN", ["odd", "old pad", "sato_phone", "経理-PC-1", "高橋 花子の iPhone"]),
    ("高橋 iPhone", ["高橋 花子の iPhone"]), ("!iphone os:iOS", ["odd", "old pad"]),
    ('"花子の iPhone"', ["高橋 花子の iPhone"]), ("os:iOS carrier:docomo security:jailbroken", ["高橋 花子の iPhone"]),
])
def test_each_field_in_sql(fleet, text, expected):
    assert matching(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("osver:<17", ["old pad", "sato_phone", "経理-PC-1"]),  # 16.10, 14, 10.0…; "beta-9" compares with nothing
    ("osver:>16.9", ["old pad", "高橋 花子の iPhone"]),  # 16.10 > 16.9 number by number
    ("osver:>=17.4.1", ["高橋 花子の iPhone"]), ("osver:>17.4.1", []), ("osver:<=16.10", ["old pad", "sato_phone", "経理-PC-1"]),
    ("osver:<=14", ["sato_phone", "経理-PC-1"]),
    ("osver:17", ["高橋 花子の iPhone"]), ("osver:17.4", ["高橋 花子の iPhone"]), ("osver:17.5", []),
    ("osver:>10.0.22631", ["sato_phone", "old pad", "経理-PC-1", "高橋 花子の iPhone"]),
    ("osver:>10.0.22631.3007", ["sato_phone", "old pad", "高橋 花子の iPhone"]),
    ("!osver:<17", ["odd", "高橋 花子の iPhone"]),
])
def test_version_comparisons_number_by_number(fleet, text, expected):
    assert matching(text) == sorted(expected)


def test_terms_combine_with_quick_filters_and_id(fleet):
    f = inventory.filter_text("os:iOS", linkage="MI", missing=False)
    assert sorted(d.computer_name for d in inventory.page(f, 0, 50)) == ["old pad", "高橋 花子の iPhone"]
    assert matching(f"id:{fleet['sato_phone']}") == ["sato_phone"]
    assert inventory.ids(inventory.filter_text("os:iOS", sort="os_version")) == [
        fleet["old pad"], fleet["高橋 花子の iPhone"], fleet["odd"]]


def test_a_bad_filter_is_refused_before_any_query(fleet):
    with pytest.raises(FilterError, match="unknown field 'colour'"):
        inventory.filter_text("colour:red")
    assert isinstance(DeviceFilter().terms, tuple)


@pytest.mark.parametrize("quick", [
    {"linkage": "Intune 本社"}, {"os_class": "m", "missing": False}, {"device_status": "Unknown"},
    {"security_problem": True}, {"security_problem": "passcode", "text": "sato"}, {"missing": True},
    {"text": "高橋 花子"}, {"text": "100%"},
])
def test_a_structured_filter_reads_back_as_text_with_the_same_rows(fleet, quick):
    f = DeviceFilter(**quick, terms=inventory.filter_text("!osver:>=17").terms)
    text = inventory.filter_as_text(f)
    again = inventory.filter_text(text)
    assert inventory.ids(again) == inventory.ids(f), text
    assert inventory.filter_terms(again) == again.terms


def test_filter_as_text_reads_like_the_prompt(fleet):
    f = DeviceFilter(linkage="Intune 本社", os_class="ip", security_problem=True, device_id=7, text="a b")
    assert inventory.filter_as_text(f) == 'id:7 "a b" linkage:="Intune 本社" os:IP security:any'
