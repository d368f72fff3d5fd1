"""A living fleet: `advance` moves one MDM's devices forward in time the way a real day does."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields

from . import ids

DAY = 86_400
STALE = 30 * DAY                 # silent this long: a drawer device, it seldom comes back


@dataclass(frozen=True)
class DayRates:
    """Per-day rates of what happens to a fleet (shares of the live devices unless said otherwise).
    The defaults follow a managed corporate fleet: nearly every active phone checks in several times a
    day, a SIM change or an enrolment touches a fraction of a percent."""

    checkin: float = 0.92           # active devices that check in at least once
    stale_checkin: float = 0.02     # devices silent for 30 days (or never seen) that come back
    sim_swap: float = 0.002         # cellular devices given a new SIM (number, ICCID, IMSI, carrier)
    iccid_only: float = 0.3         # of those: only a new ICCID for the same number (card or eSIM replaced)
    enrol: float = 0.001            # new devices, as a share of the fleet
    reenrol: float = 0.0005         # same hardware, new MDM id
    leave: float = 0.001            # devices deleted from the MDM
    apps: float = 0.05              # checked-in devices whose apps change (one installed, updated or removed)
    storage_drift: float = 0.02     # largest change of free storage at one check-in, as a share of the total

    @classmethod
    def from_dict(cls, data: dict) -> DayRates:
        """Rates from a JSON object; unknown names and values outside 0..1 are refused."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise ValueError(f"unknown rate {bad[0]!r} (known: {', '.join(sorted(known))})")
        for name, value in data.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ValueError(f"rate {name} must be a number from 0 to 1")
        return cls(**{k: float(v) for k, v in data.items()})


def _scaled(rate: float, hours: float) -> float:
    """A per-day probability over `hours` (check-ins compound; one day's rate is exact at 24 h)."""
    return 1 - (1 - rate) ** (hours / 24) if rate < 1 else 1.0


def advance(fleet, hours: float, rates: DayRates | None = None) -> dict:
    """Move the fleet forward `hours`: its clock, check-ins, SIM changes, enrolments, departures and
    app changes. Seeded by (seed, MDM, how many advances came before): the same calls, the same fleet.
    Returns what happened, counted."""
    if not 0 < hours <= 24 * 366:
        raise ValueError("hours must be more than 0 and at most a year")
    rates = rates or DayRates()
    with fleet.lock:
        fleet.advances += 1
        r = random.Random(ids.stable_int(fleet.seed, fleet.mdm, "advance", fleet.advances))
        start = fleet.clock()
        fleet.offset += int(hours * 3600)
        end = fleet.clock()
        done = dict.fromkeys(("checked_in", "sim_swaps", "iccid_only", "apps_changed", "enrolled",
                              "reenrolled", "left"), 0)
        _day_of_devices(fleet, r, rates, hours, start, end, done)
        _membership(fleet, r, rates, hours, start, end, done)
        fleet.version += 1
        return {"hours": hours, "clock": end, "rates": asdict(rates), **done}


def _day_of_devices(fleet, r: random.Random, rates: DayRates, hours: float, start: int, end: int,
                    done: dict) -> None:
    p_active, p_stale = _scaled(rates.checkin, hours), _scaled(rates.stale_checkin, hours)
    p_swap, p_apps = rates.sim_swap * hours / 24, rates.apps
    for slot in list(fleet.live_slots()):
        last = fleet.last_sync(slot)
        active = last is not None and start - last < STALE
        if r.random() >= (p_active if active else p_stale):
            continue
        when = r.randrange(max(start, last or 0) + 1, end + 1) if end > start else end
        prof = fleet.profile(slot)
        fleet.check_in(slot, when, _drifted(r, prof, rates.storage_drift))
        done["checked_in"] += 1
        if prof["cellular"] and prof["iccid"] and r.random() < p_swap:
            only = r.random() < rates.iccid_only
            _swap(fleet, slot, prof, r, when, only)
            done["iccid_only" if only else "sim_swaps"] += 1
        if r.random() < p_apps:
            _change_apps(fleet, slot, r)
            done["apps_changed"] += 1


def _drifted(r: random.Random, prof: dict, drift: float) -> int:
    total = prof["storage_total"]
    free = prof["storage_free"] + int(total * drift * (2 * r.random() - 1))
    return min(max(free, total // 50), total * 95 // 100) // 4096 * 4096


def _swap(fleet, slot: int, prof: dict, r: random.Random, when: int, iccid_only: bool) -> None:
    """A new SIM; with `iccid_only` the same subscription on a new card (same number, IMSI, carrier)."""
    if iccid_only:
        issuer = "".join(c for c in prof["iccid"] if c.isdigit())[2:6]  # the MDM may send it grouped
        fleet.update(slot, iccid=ids.iccid(r, issuer), last_sync=when)
        return
    carrier, plmn, issuer, cc = r.choice(ids.CARRIERS_JP)
    fleet.update(slot, phone=ids.phone(r, cc), iccid=ids.iccid(r, issuer), imsi=ids.imsi(r, plmn),
                 carrier=carrier, last_sync=when)


def _change_apps(fleet, slot: int, r: random.Random) -> None:
    """One app installed or removed (the count moves), or one updated to another version."""
    apps = fleet.apps(slot)
    kind = r.choice(("install", "remove", "update")) if apps else "install"
    if kind == "update":
        idx, ver = r.choice(apps)
        versions = len(fleet.catalog(slot)[idx].versions)
        if versions > 1:
            bumped = dict(fleet.overlay.get(slot, {}).get("app_versions", {}))
            bumped[idx] = (ver + 1 + r.randrange(versions - 1)) % versions
            fleet.update(slot, app_versions=bumped)
            return
        kind = "install"
    fleet.update(slot, app_count=max(0, len(apps) + (1 if kind == "install" else -1)))


def _membership(fleet, r: random.Random, rates: DayRates, hours: float, start: int, end: int,
                done: dict) -> None:
    n = fleet.count()
    for _ in range(_events(r, n * rates.leave * hours / 24)):
        slot = fleet.nth_slot(r.randrange(fleet.count()))
        if slot is not None:
            fleet.remove(slot)
            done["left"] += 1
    for _ in range(_events(r, n * rates.reenrol * hours / 24)):
        slot = fleet.nth_slot(r.randrange(fleet.count()))
        if slot is not None:
            new, when = fleet.reenrol(slot), r.randrange(start + 1, end + 1)
            fleet.update(new, enrolled=when, last_sync=when)
            done["reenrolled"] += 1
    for _ in range(_events(r, n * rates.enrol * hours / 24)):
        slot = fleet.add()
        when = r.randrange(start + 1, end + 1)
        fleet.update(slot, enrolled=when, last_sync=when)
        done["enrolled"] += 1


def _events(r: random.Random, expected: float) -> int:
    """A whole number of events with the expected mean (the fraction decided by a draw)."""
    whole = int(expected)
    return whole + (1 if r.random() < expected - whole else 0)
