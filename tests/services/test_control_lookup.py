"""services/lookup: a device by name, serial, IMEI, MDM id or id; ambiguity refused with candidates."""

from __future__ import annotations

import pytest
from control_helpers import make_device, make_linkage

from mdmtui.errors import AmbiguousError, NotFoundError, UsageError
from mdmtui.services import lookup


@pytest.fixture
def fleet(ctx):
    a, b = make_linkage("A", "mobileiron"), make_linkage("B", "sdm")
    return {
        "alpha": make_device(a, "M", "Alpha", serial="SNA1", imei="356938035643809", mdm_id="uuid-alpha"),
        "twin1": make_device(a, "M", "Twin", serial="SNT1"),
        "twin2": make_device(b, "Si", "twin", serial="SNT2"),
        "numeric": make_device(b, "SA", "4242", serial="SN4242"),
    }


def test_each_kind_of_identity_finds_the_device(ctx, fleet):
    alpha = fleet["alpha"]
    for term in ("Alpha", "alpha", "SNA1", "sna1", "356938035643809", "35-693803-564380-9", "uuid-alpha",
                 str(alpha.id), f"id:{alpha.id}", "imei:356938035643809", "serial:SNA1", "name:ALPHA",
                 "mdm:uuid-alpha"):
        assert lookup.resolve(ctx, term).id == alpha.id, term


def test_ambiguous_name_is_refused_with_candidates(ctx, fleet):
    with pytest.raises(AmbiguousError) as info:
        lookup.resolve(ctx, "twin")
    assert len(info.value.candidates) == 2
    assert any("SNT1" in c and "[M, A]" in c for c in info.value.candidates)
    assert any("SNT2" in c and "[Si, B]" in c for c in info.value.candidates)
    assert "id:N" in str(info.value)
    assert lookup.resolve(ctx, "serial:SNT2").id == fleet["twin2"].id


def test_number_that_is_both_an_id_and_a_name_is_ambiguous(ctx, fleet):
    numeric = fleet["numeric"]
    other = make_device(make_linkage("C", "intune"), "IS", str(numeric.id))
    with pytest.raises(AmbiguousError) as info:
        lookup.resolve(ctx, str(numeric.id))
    assert {c.split()[1] for c in info.value.candidates} == {str(numeric.id), str(other.id)}
    assert lookup.resolve(ctx, f"id:{numeric.id}").id == numeric.id
    assert lookup.resolve(ctx, f"name:{numeric.id}").id == other.id


def test_resolve_many_keeps_order_drops_repeats_and_lists_every_problem(ctx, fleet):
    found = lookup.resolve_many(ctx, ["SN4242", "Alpha", "sna1"])
    assert [d.id for d in found] == [fleet["numeric"].id, fleet["alpha"].id]
    with pytest.raises(NotFoundError) as info:
        lookup.resolve_many(ctx, ["Alpha", "nope-1", "nope-2"])
    assert "'nope-1'" in str(info.value) and "'nope-2'" in str(info.value)
    with pytest.raises(AmbiguousError) as amb:
        lookup.resolve_many(ctx, ["twin", "nope-3"])
    assert "nope-3" in str(amb.value) and len(amb.value.candidates) == 2


def test_many_terms_in_one_call(ctx):
    linkage = make_linkage("Big", "mobileiron")
    devices = [make_device(linkage, "M", f"bulk-{i}") for i in range(400)]
    found = lookup.resolve_many(ctx, [f"bulk-{i}" for i in range(400)])
    assert [d.id for d in found] == [d.id for d in devices]


def test_empty_terms_are_usage_errors(ctx):
    with pytest.raises(UsageError):
        lookup.resolve(ctx, "  ")
    with pytest.raises(UsageError):
        lookup.resolve_many(ctx, [])


def test_confirm_label_falls_back_when_the_name_was_not_collected(ctx):
    linkage = make_linkage("A", "mobileiron")
    assert lookup.confirm_label(make_device(linkage, "M", "Phone")) == "Phone"
    assert lookup.confirm_label(make_device(linkage, "M", "", serial="SNX")) == "SNX"


def test_udid_names_a_device_in_any_case_and_user_and_asset_only_by_prefix(ctx, fleet):
    from mdmtui.storage.models import AssetInfo, Device

    alpha, twin1 = fleet["alpha"], fleet["twin1"]
    Device.update(udid="00008030-001A2B3C4D5E802E", user_name="Tanaka.H").where(Device.id == alpha.id).execute()
    AssetInfo.create(device=twin1.id, asset_number="A-0042", assigned_user="tanaka.h")
    assert lookup.resolve(ctx, "00008030-001a2b3c4d5e802e").id == alpha.id
    assert lookup.resolve(ctx, "udid:00008030-001A2B3C4D5E802E").id == alpha.id
    assert lookup.resolve(ctx, "asset:a-0042").id == twin1.id
    with pytest.raises(NotFoundError):  # without its prefix an asset number names no device for an action
        lookup.resolve(ctx, "A-0042")
    with pytest.raises(AmbiguousError):  # the MDM's user of one, the assigned user of the other
        lookup.resolve(ctx, "user:TANAKA.H")


def test_find_tries_every_kind_and_lists_every_match_by_name(ctx, fleet):
    from mdmtui.storage.models import AssetInfo, Device

    alpha, twin1, twin2 = fleet["alpha"], fleet["twin1"], fleet["twin2"]
    Device.update(user_name="kato").where(Device.id.in_([alpha.id, twin2.id])).execute()
    AssetInfo.create(device=twin1.id, asset_number="A-7", assigned_user=None)
    found, total = lookup.find(ctx, "A-7")
    assert (total, [d.id for d in found]) == (1, [twin1.id])
    assert not isinstance(found[0], Device)  # a typed record, never an ORM row
    found, total = lookup.find(ctx, "KATO")
    assert total == 2 and [d.id for d in found] == [alpha.id, twin2.id]  # by name: Alpha, twin
    found, total = lookup.find(ctx, "twin", limit=1)
    assert total == 2 and len(found) == 1
    assert lookup.find(ctx, "35 693803 564380 9")[0][0].id == alpha.id
    assert lookup.find(ctx, "nobody-at-all") == ([], 0)


def test_find_reads_a_bounded_pool_yet_counts_every_match(ctx):
    from mdmtui.storage.models import Device

    lk = make_linkage("Bulk", "intune")
    made = [make_device(lk, "IS", f"iPhone {n:03d}") for n in range(250)]
    Device.update(user_name="team").where(Device.id.in_([d.id for d in made])).execute()
    found, total = lookup.find(ctx, "team", limit=10)
    assert total == 250 and [d.computer_name for d in found] == [f"iPhone {n:03d}" for n in range(10)]
