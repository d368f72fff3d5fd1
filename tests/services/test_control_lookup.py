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
