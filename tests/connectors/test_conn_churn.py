"""Change markers that ignore check-in churn, and the rolling refresh's spread."""

from __future__ import annotations

import asyncio

import httpx

from mdmtui.connectors import churn

ROW = {"id": "d-1", "serialNumber": "F2LX", "imei": "3566", "phoneNumber": "09012345678",
       "lastSyncDateTime": "2026-12-01T10:00:00Z", "freeStorageSpaceInBytes": 1 << 30, "osVersion": "18.5"}
NOW = 1_800_000_000.0


def test_a_check_in_keeps_the_marker_a_sim_change_does_not():
    base = churn.marker(ROW, "d-1", NOW, 7)
    checked_in = {**ROW, "lastSyncDateTime": "2026-12-02T09:00:00Z", "freeStorageSpaceInBytes": 2 << 30}
    assert churn.marker(checked_in, "d-1", NOW, 7) == base
    assert churn.due(base, churn.marker(checked_in, "d-1", NOW, 7)) == churn.Due(False, False)
    swapped = churn.marker({**ROW, "phoneNumber": "08011112222"}, "d-1", NOW, 7)
    assert churn.due(base, swapped) == churn.Due(enrich=True, refresh=False)
    assert churn.due(base, churn.marker({**ROW, "osVersion": "26.0"}, "d-1", NOW, 7)).enrich


def test_unknown_or_old_markers_mean_everything_a_current_one_does_not():
    new = churn.Phases({}, 7).marker(ROW, "d-1", NOW)
    assert new.startswith("r2|") and new.count("|") == 3
    assert churn.due(new, new) == churn.Due(False, False)
    for stored in (None, "", "2026-12-01T10:00:00Z|1a2b3c4d", "r0|x|1", "r1|x", "r1|x|y", "r2|x|1",
                   "r2|x|1|-3", "r2|x|1|y", "r2|x|y|1", "r2|x|1|2|3", "r3|x|1|2"):
        assert churn.due(stored, new) == churn.Due(True, True), stored
        assert churn.Phases({"d-1": stored}, 7).due("d-1", new) == churn.Due(True, True), stored


def _ticked(slots, start: float, end: float) -> list[int]:
    return [s for s in slots if churn.period_number(s, start, 7) != churn.period_number(s, end, 7)]


def test_every_day_long_window_holds_a_seventh_of_the_slots_give_or_take_a_handful():
    slots = range(10_000)                            # the first collection numbers the fleet 0..9,999
    hours = [{s: churn.period_number(s, NOW + h * 3600, 7) for s in slots} for h in range(7 * 24 + 25)]
    for h in range(7 * 24 + 1):                      # each 24 h window starting on the hour, over 7 days
        ticked = sum(1 for s in slots if hours[h][s] != hours[h + 24][s])
        assert abs(ticked - 10_000 / 7) <= 4, (h, ticked)    # a hash: 1,429 +- 35 (one sigma)
    week = [churn.period_number(s, NOW + 7 * churn.DAY_S, 7) - hours[0][s] for s in slots]
    assert set(week) == {1}                          # each device exactly once per period
    daily = [_ticked(slots, NOW + d * churn.DAY_S, NOW + (d + 1) * churn.DAY_S) for d in range(7)]
    assert sorted(s for day in daily for s in day) == list(slots)


def test_new_slots_keep_the_spread_even_and_departures_only_remove_points():
    slots = [s for s in range(12_000) if s % 10]     # a tenth left, 2,000 enrolled after the first 10,000
    ticked = len(_ticked(slots, NOW, NOW + churn.DAY_S))
    assert abs(ticked - len(slots) / 7) <= 6


def test_slots_are_numbered_in_listing_order_and_never_handed_out_twice():
    phases = churn.Phases({}, 7)
    assert [phases.slot(f"d-{n}") for n in range(5)] == [0, 1, 2, 3, 4]
    assert phases.slot("d-2") == 2                   # asked again in the same run: the same slot
    known = {"a": churn.marker(ROW, "a", NOW, 7, 9), "b": churn.marker(ROW, "b", NOW, 7, 4),
             "gone": churn.marker(ROW, "gone", NOW, 7, 12),    # departed: still stored, its slot stays taken
             "old": churn.marker(ROW, "old", NOW, 7), "reset": None, "odd": "r2|x|1|y"}
    phases = churn.Phases(known, 7)
    assert phases.slot("a") == 9 and phases.slot("b") == 4 and phases.slot("gone") == 12
    assert [phases.slot(i) for i in ("new-1", "old", "reset", "odd", "new-2")] == [13, 14, 15, 16, 17]
    marker = phases.marker(ROW, "new-1", NOW)
    assert churn.parse(marker) == churn.Stored(churn.checksum(ROW), churn.period_number(13, NOW, 7), 13)


async def test_concurrent_pages_never_share_a_slot():
    phases = churn.Phases({"k": churn.marker(ROW, "k", NOW, 7, 41)}, 7)

    async def page(n: int) -> list[int]:
        out = []
        for i in range(50):
            await asyncio.sleep(0)                   # pages interleave at every await
            out.append(churn.parse(phases.marker(ROW, f"p{n}-{i}", NOW)).slot)
        return out

    got = [s for page_slots in await asyncio.gather(*(page(n) for n in range(8))) for s in page_slots]
    assert sorted(got) == list(range(42, 42 + 400))


def test_an_r1_marker_refreshes_only_if_its_own_period_ticked_and_becomes_r2():
    ids = [f"device-{n}" for n in range(3000)]
    stored = {i: churn.marker(ROW, i, NOW, 7) for i in ids}                # the previous release's r1
    stored["device-7"] = churn.marker({**ROW, "phoneNumber": "08011112222"}, "device-7", NOW, 7)
    later = NOW + churn.DAY_S
    phases = churn.Phases(stored, 7)
    markers = {i: phases.marker(ROW, i, later) for i in ids}
    dues = {i: phases.due(i, m) for i, m in markers.items()}
    # the previous release's own decision: its r1 marker then against its r1 marker now
    before = {i: churn.due(stored[i], churn.marker(ROW, i, later, 7)) for i in ids}
    assert dues == before
    assert [i for i, d in dues.items() if d.enrich] == ["device-7"]
    assert 300 < sum(d.refresh for d in dues.values()) < 600                # a seventh, not the fleet
    assert sorted(churn.parse(m).slot for m in markers.values()) == list(range(3000))
    again = churn.Phases(markers, 7)                 # the next run reads the r2 markers it wrote
    assert all(again.due(i, again.marker(ROW, i, later + 60)) == churn.Due(False, False) for i in ids
               if not _ticked([churn.parse(markers[i]).slot], later, later + 60))


def test_the_mdm_clock_wins_over_ours():
    headers = httpx.Headers({"date": "Wed, 02 Dec 2026 10:00:00 GMT"})
    assert churn.server_now(headers) == 1796205600.0
    assert churn.server_now(headers, 1_796_300_000_000) == 1_796_300_000.0
    assert abs(churn.server_now(httpx.Headers({"date": "garbage"})) - __import__("time").time()) < 5
    assert churn.refresh_days_of({"refresh_days": "x"}) == 7 and churn.refresh_days_of({"refresh_days": 2}) == 2
