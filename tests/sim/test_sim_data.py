"""Generated data: deterministic, well-formed identifiers, realistic mixes, lazy for large fleets."""

from __future__ import annotations

import collections
import re
import time
import tracemalloc

from mdmtui.sim.fleet import Fleet
from mdmtui.sim.ids import SlotIds, luhn_ok
from mdmtui.sim.profiles import device_apps


def _profiles(mdm: str, n: int = 600, seed: int = 3):
    fleet = Fleet(seed, mdm, n, now=1_760_000_000)
    return [fleet.profile(s) for s in range(n)]


def test_same_seed_same_devices_other_seed_other_devices():
    a, b, c = Fleet(5, "intune", 10, now=1e9), Fleet(5, "intune", 10, now=1e9), Fleet(6, "intune", 10, now=1e9)
    assert [a.profile(i) for i in range(10)] == [b.profile(i) for i in range(10)]
    assert [a.profile(i)["serial"] for i in range(10)] != [c.profile(i)["serial"] for i in range(10)]
    assert a.id_of(3) == b.id_of(3) != c.id_of(3)


def test_identifiers_are_well_formed():
    profs = _profiles("intune") + _profiles("sdm")
    with_sim = [p for p in profs if p["imei"]]
    assert len(with_sim) > len(profs) * 0.6
    for p in with_sim:
        imei, iccid = p["imei"].replace(" ", ""), p["iccid"].replace(" ", "")
        assert len(imei) == 15 and luhn_ok(imei)
        assert iccid.startswith("89") and len(iccid) in (19, 20) and luhn_ok(iccid)
        assert len(p["imsi"]) == 15 and p["imsi"].isdigit()
    jp = [p for p in with_sim if p["imsi"].startswith(("440", "441"))]
    assert len(jp) > len(with_sim) * 0.7
    assert any(p["phone"].startswith("+81") for p in jp) and any(p["phone"].startswith("0") for p in jp)
    for p in profs:
        assert p["wifi_mac"] == "" or re.fullmatch(r"[0-9A-F]{12}", p["wifi_mac"])
        assert p["storage_free"] < p["storage_total"]


def test_intune_and_core_send_identifiers_grouped_the_sdm_plain():
    for mdm in ("intune", "mobileiron"):
        with_sim = [p for p in _profiles(mdm) if p["imei"]]
        assert with_sim and all(re.fullmatch(r"\d{2} \d{6} \d{6} \d", p["imei"]) for p in with_sim)
        assert all(re.fullmatch(r"(\d{4} ){4}\d{3,4}", p["iccid"]) for p in with_sim)
        phones = [p["phone"] for p in with_sim if p["phone"].startswith(("0", "+81"))]
        dashed = [n for n in phones if re.fullmatch(r"0\d0-\d{4}-\d{4}|\+81 \d0-\d{4}-\d{4}", n)]
        assert 0.3 < len(dashed) / len(phones) < 0.7  # a deterministic share of the numbers
    sdm = [p for p in _profiles("sdm") if p["imei"]]
    assert all(p["imei"].isdigit() and p["iccid"].isdigit() for p in sdm)
    assert all("-" not in p["phone"] and " " not in p["phone"] for p in sdm)


def test_a_swapped_sim_is_reported_in_the_same_form():
    fleet = Fleet(3, "intune", 40, now=1_760_000_000)
    slot = next(s for s in range(40) if fleet.profile(s)["imei"])
    before = fleet.profile(slot)["imei"]
    fleet.sim_swap(slot)
    after = fleet.profile(slot)
    assert after["imei"] == before and re.fullmatch(r"(\d{4} ){4}\d{3,4}", after["iccid"])
    fleet.report_ids(grouped=False)
    assert fleet.profile(slot)["imei"] == before.replace(" ", "")


def test_os_mix_and_pc_networks():
    profs = _profiles("intune", 2000)
    mix = collections.Counter(p["os"] for p in profs)
    assert set(mix) == {"iOS", "iPadOS", "Android", "Windows"}
    assert 0.15 < mix["Windows"] / 2000 < 0.25
    pcs = [p for p in profs if p["os"] == "Windows"]
    assert any(p["wifi_mac"] and p["eth_mac"] for p in pcs)
    assert any(p["wifi_mac"] and not p["eth_mac"] for p in pcs)
    assert any(not p["wifi_mac"] and p["eth_mac"] for p in pcs)
    assert all(p["udid"] == "" for p in profs if p["os"] in ("Android", "Windows"))
    assert all(p["udid"] for p in profs if p["os"] in ("iOS", "iPadOS"))
    assert {p["os"] for p in _profiles("mobileiron")} <= {"iOS", "iPadOS", "Android"}


def test_names_nulls_and_dates():
    profs = _profiles("intune", 2000)
    assert sum(not p["device_name"].isascii() for p in profs) > 200
    assert sum(not p["user_name"].isascii() for p in profs) > 600
    assert any(p["last_sync"] is None for p in profs)              # never synced: 0001-01-01 on the wire
    assert any(p["carrier"] is None and p["imei"] == "" for p in profs)
    apps = [p["app_count"] for p in profs]
    assert min(apps) == 0 and max(apps) >= 1000


def test_apps_are_deterministic_and_distinct():
    p = next(p for p in _profiles("sdm") if p["app_count"] > 10)
    apps = device_apps(p)
    assert apps == device_apps(p) and len(apps) == p["app_count"] == len(set(a for a, _ in apps))


def test_slot_ids_invert():
    ids = SlotIds(9, "mobileiron")
    for slot in (0, 1, 999, 123_456, 499_999):
        ident = ids.id_of(slot)
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", ident)
        assert ids.slot_of(ident) == slot
    assert ids.slot_of("00000000-0000-4000-8000-000000000000") is None


def test_big_fleet_is_lazy():
    tracemalloc.start()
    started = time.perf_counter()
    fleet = Fleet(1, "intune", 500_000)
    last = fleet.profile(499_999)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 1 and peak < 5_000_000
    assert fleet.count() == 500_000 and last["hw"] == 499_999
    assert fleet.nth_slot(499_999) == 499_999 and fleet.nth_slot(500_000) is None


def test_removals_shift_offsets():
    fleet = Fleet(1, "sdm", 10, now=1e9)
    fleet.remove(2)
    fleet.remove(5)
    new = fleet.add()
    assert [fleet.nth_slot(i) for i in range(9)] == [0, 1, 3, 4, 6, 7, 8, 9, new]
    assert list(fleet.live_slots(4)) == [4, 6, 7, 8, 9, new]
    assert fleet.count() == 9 and not fleet.exists(2)
