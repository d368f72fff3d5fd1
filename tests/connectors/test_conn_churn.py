"""Change markers that ignore check-in churn, and the rolling refresh's spread."""

from __future__ import annotations

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


def test_unknown_or_old_markers_mean_everything():
    new = churn.marker(ROW, "d-1", NOW, 7)
    for stored in (None, "2026-12-01T10:00:00Z|1a2b3c4d", "r0|x|1", "r1|x"):
        assert churn.due(stored, new) == churn.Due(True, True)


def test_each_day_of_the_period_refreshes_about_a_seventh_and_all_within_the_period():
    ids = [f"device-{n}" for n in range(7000)]
    start = {i: churn.period_number(i, NOW, 7) for i in ids}
    seen: set[str] = set()
    for day in range(1, 8):
        ticked = {i for i in ids if churn.period_number(i, NOW + day * churn.DAY_S, 7) != start[i]}
        assert 800 < len(ticked - seen) < 1200          # a seventh of 7,000 is 1,000
        seen |= ticked
    assert seen == set(ids)


def test_the_mdm_clock_wins_over_ours():
    headers = httpx.Headers({"date": "Wed, 02 Dec 2026 10:00:00 GMT"})
    assert churn.server_now(headers) == 1796205600.0
    assert churn.server_now(headers, 1_796_300_000_000) == 1_796_300_000.0
    assert abs(churn.server_now(httpx.Headers({"date": "garbage"})) - __import__("time").time()) < 5
    assert churn.refresh_days_of({"refresh_days": "x"}) == 7 and churn.refresh_days_of({"refresh_days": 2}) == 2
