"""The fast paths say exactly what the straightforward ones say.

Pages are rendered from templates and a rewritten generator (mdmtui/sim/jsontext.py, profiles.py);
devices changed by actions or admin operations still go through the dicts and json.dumps. These tests
hold the fast paths to the dict paths (and the generator to the original one, reference_profiles.py),
byte for byte, over thousands of devices of every MDM and several seeds.
"""

from __future__ import annotations

import json
import random

import pytest
import reference_profiles

from mdmtui.sim import ids, intune_wire, mobileiron, profiles, sdm
from mdmtui.sim.jsontext import jtext

NOW = 1_760_000_000
SELECTS = [None, ("id", "deviceName", "operatingSystem", "osVersion", "model", "manufacturer", "serialNumber", "imei",
                  "phoneNumber", "subscriberCarrier", "wiFiMacAddress", "totalStorageSpaceInBytes",
                  "freeStorageSpaceInBytes", "lastSyncDateTime", "userDisplayName", "emailAddress"),
           ("iccid", "udid", "physicalMemoryInBytes", "hardwareInformation", "deviceName", "iccid", "notes",
            "chassisType", "enrolledDateTime", "managementCertificateExpirationDate", "easActivationDateTime")]


def _profiles(seed: int, mdm: str, n: int):
    hasher = ids.Hasher(seed, mdm)
    hws = list(range(n)) + [1_000_000_000 + k * 7_919_000 for k in range(20)]
    return [profiles.make_profile(seed, mdm, hw, NOW, hasher) for hw in hws]


@pytest.mark.parametrize("seed", [1, 5, 424242])
@pytest.mark.parametrize("mdm", ["intune", "mobileiron", "sdm"])
def test_generator_makes_the_original_draws(seed, mdm):
    hasher = ids.Hasher(seed, mdm)
    for hw in list(range(2500)) + [1_000_000_000 + k * 7_919_000 for k in range(30)]:
        fast = profiles.make_profile(seed, mdm, hw, NOW, hasher)
        ref = reference_profiles.make_profile(seed, mdm, hw, NOW)
        assert fast == ref and list(fast) == list(ref), (seed, mdm, hw)


def test_table_strings_need_no_json_escaping():
    """Fast paths quote profile strings without escaping: every table they come from must allow it."""
    tables = [profiles.IPHONES, profiles.IPADS, profiles.ANDROIDS, profiles.PCS, profiles.JP_FAMILY, profiles.JP_GIVEN,
              profiles.EN_NAMES, profiles.DEPTS, profiles.ANDROID_VERSIONS, profiles.WIN_VERSIONS,
              profiles.SDM_VERSIONS, ids.CARRIERS_JP, ids.CARRIERS_OTHER, [profiles.DOMAIN]]
    strings = [x for table in tables for row in table for x in (row if isinstance(row, tuple) else (row,))
               if isinstance(x, str)]
    assert strings and all(json.dumps(s, ensure_ascii=False) == f'"{s}"' for s in strings)


def test_luhn_fast_equals_general_rule():
    r = random.Random(4)
    for _ in range(20_000):
        body = str(r.randrange(10 ** r.randrange(1, 21)))
        assert ids.luhn_digit(body) == ids._luhn_digit_slow(body)


@pytest.mark.parametrize("seed", [3, 77])
def test_intune_templates_equal_dicts(seed):
    for k, p in enumerate(_profiles(seed, "intune", 1500)):
        ident = ids.SlotIds(seed, "intune").id_of(k) if k % 50 == 0 else f"00000000-0000-4000-8000-{k:012x}"
        for beta in (False, True):
            full = intune_wire.device(p, ident, 0, 2, beta)
            for sel in SELECTS:
                listed = intune_wire.project(intune_wire.list_item(full), list(sel) if sel else None)
                assert intune_wire.VIEWS[beta, True, False, sel].render(p, ident) == jtext(listed)
                if sel:                          # single GET with $select: real values, memory on beta only
                    single = intune_wire.project(full, list(sel))
                    if not beta and "physicalMemoryInBytes" in single:
                        single["physicalMemoryInBytes"] = 0
                    assert intune_wire.VIEWS[beta, False, not beta, sel].render(p, ident) == jtext(single)


@pytest.mark.parametrize("seed", [3, 77])
def test_mobileiron_templates_equal_dicts(seed):
    every = mobileiron.FIELD_NAMES
    asks = [every, every[::-1], every[5:9] + every[:3] + every[5:6] + ("custom.asset_tag", 'custom."x%s"')]
    for slot, p in enumerate(_profiles(seed, "mobileiron", 1500)):
        uuid = f"00000000-0000-4000-8000-{slot:012x}"
        full = mobileiron.wire_fields(p, uuid, slot, "Global")
        frags = mobileiron.fragments(p, uuid, slot, "Global")
        for fields in asks:
            row = {k: full[k] if k in full else "" for k in fields}
            assert mobileiron.VIEWS[tuple(fields)].render(frags) == jtext(row)


@pytest.mark.parametrize("seed", [3, 77])
def test_sdm_text_equals_dict(seed):
    for k, p in enumerate(_profiles(seed, "sdm", 2500)):
        ident = f"00000000-0000-4000-8000-{k:012x}"
        assert sdm.wire_text(p, ident) == jtext(sdm.wire_device(p, ident))
