"""Change markers that ignore check-in churn, and the rolling refresh of facts no list shows.

A device checks in every few hours: its sync time and free storage move, nothing an enrichment call
yields does. So the marker is a checksum of the list fields that *can* signal a changed enrichment
(identity, SIM, hardware, OS), never of the churning ones; the list's own values (sync time, free
storage) are stored from the list at every run without any extra request.

Facts that only a per-device call gives and that can change with no listed field moving (MobileIron's
passcode state, a device's installed software) are refreshed on a rolling period instead: each device
has a fixed phase inside the period, and the marker carries the number of the period the device is in,
which ticks once per period at that phase. The phase comes from the device's *slot*, a number handed out
once, when the connector first sees the device (``Phases``: the first collection numbers the fleet
0..N-1 in listing order, a later new device takes the next number after the highest stored one), as
frac(slot x the golden ratio's conjugate) of the period: a Weyl sequence, so any day's window holds a
seventh of the fleet give or take a handful of devices at the default 7 days (a hash's phases spread
binomially, about +-0.8 % at 100,000 devices), new slots keep it even and departures only remove
points. A skipped run loses nothing (the next one sees every tick it missed). "Now" is the MDM's own
clock (the answer's Date header or the server time it reports) when it gives one, so a clock-skewed
collector refreshes on the MDM's day.

Marker format: ``r2|<checksum of the stable list fields>|<rolling period number>|<slot>``. The previous
release's ``r1|<checksum>|<period number>`` (its phase a crc32 of the MDM id) is upgraded without a
storm: its checksum is compared as it is and its period with the hash phase's at this run, so a device
is enriched or refreshed only if it would have been anyway; the new marker then carries a fresh slot.
The one-off price: the new phase is unrelated to the old one, so across the upgrade a device can go up
to about two periods without a refresh, once (refreshed early in its last r1 period, the upgrade run
late in it, its slot's first tick nearly a period after that run). A stored marker of any other shape
(an older release's, or None after a failed enrichment) reads as "everything changed".
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

DAY_S = 86_400
DEFAULT_REFRESH_DAYS = 7
PREFIX = "r2"
LEGACY = "r1"  # the previous release's marker: its phase from a hash of the MDM id
# 2**64 x the golden ratio's conjugate (0.618...): slot x this, modulo 2**64, is the Weyl sequence in integers
WEYL = 0x9E3779B97F4A7C15

# List fields that move at a plain check-in (or with the device's mood) and imply no enrichment change.
CHURN_KEYS = frozenset({
    # Intune
    "lastSyncDateTime", "freeStorageSpaceInBytes", "complianceState", "jailBroken", "isEncrypted",
    "deviceName", "userDisplayName",
    # MobileIron Core
    "common.last_connected_at", "common.storage_free", "common.memory_free", "common.compliant",
    "common.device_is_compromised", "common.device_encrypted", "ios.DeviceName", "user.display_name",
    # SDM
    "lastContact", "internalFreeBytes", "ramFreeBytes", "sdCardFreeBytes", "listName", "user",
})


@dataclass(frozen=True, slots=True)
class Due:
    """What a device needs this run: the full enrichment, and/or only the rolling refresh."""

    enrich: bool
    refresh: bool

    @property
    def any(self) -> bool:
        """True when any per-device call is due."""
        return self.enrich or self.refresh


@dataclass(frozen=True, slots=True)
class Stored:
    """A readable stored marker: its checksum, period number and slot (None: the previous release's)."""

    checksum: str
    period: int
    slot: int | None


def checksum(wire: dict[str, Any]) -> str:
    """The checksum of the list fields that can signal a changed enrichment (all but the churn)."""
    stable = "\x1f".join(f"{k}={v}" for k, v in sorted(wire.items()) if k not in CHURN_KEYS)
    # surrogatepass: a lone surrogate from JSON's "\ud800" must not fail the run (as in mapping.change_marker)
    return f"{zlib.crc32(stable.encode('utf-8', 'surrogatepass')):08x}"


def marker(wire: dict[str, Any], ident: str, now: float, refresh_days: float, slot: int | None = None) -> str:
    """The device's change marker: stable list fields' checksum, its rolling period number and slot.
    Without a slot, the previous release's r1 marker (its phase from the id's hash): what an upgraded
    inventory holds; the connectors take their slots from ``Phases``."""
    if slot is None:
        return f"{LEGACY}|{checksum(wire)}|{hash_period(ident, now, refresh_days)}"
    return f"{PREFIX}|{checksum(wire)}|{period_number(slot, now, refresh_days)}|{slot}"


def period_number(slot: int, now: float, refresh_days: float) -> int:
    """Which rolling period a device is in: ticks once per period, at its slot's phase."""
    period = max(1.0, refresh_days * DAY_S)
    phase = ((slot * WEYL) % 2**64) / 2**64 * period
    return int((now + phase) // period)


def hash_period(ident: str, now: float, refresh_days: float) -> int:
    """The previous release's period number (r1 markers): the phase from a crc32 of the MDM id."""
    period = max(1.0, refresh_days * DAY_S)
    phase = (zlib.crc32(ident.encode("utf-8", "surrogatepass")) / 2**32) * period
    return int((now + phase) // period)


def parse(stored: str | None) -> Stored | None:
    """A stored marker's parts; None for any shape this release cannot compare (everything changed)."""
    parts = stored.split("|") if stored else []
    try:
        if len(parts) == 4 and parts[0] == PREFIX and int(parts[3]) >= 0:
            return Stored(parts[1], int(parts[2]), int(parts[3]))
        if len(parts) == 3 and parts[0] == LEGACY:
            return Stored(parts[1], int(parts[2]), None)
    except ValueError:
        pass
    return None


def due(stored: str | None, new: str) -> Due:
    """Compare a stored marker with this run's of the same shape: new device or changed list fields ->
    enrich; only a new period -> refresh; same -> nothing. (An r1 marker against an r2 one: ``Phases``.)"""
    old, fresh = parse(stored), parse(new)
    if old is None or fresh is None or (old.slot is None) != (fresh.slot is None):
        return Due(enrich=True, refresh=True)
    return Due(enrich=old.checksum != fresh.checksum, refresh=old.period != fresh.period)


class Phases:
    """One run's rolling-refresh slots, built from the linkage's stored markers (``known``): a device
    keeps its stored slot; one without (new, an r1 marker, a marker reset after a failed read) gets the
    next number after the highest stored slot, once per run, in the order the connector asks (the
    listing's; the allocation never awaits, so concurrent pages cannot hand one number out twice)."""

    def __init__(self, known: Mapping[str, str | None], refresh_days: float) -> None:
        self.known = known
        self.refresh_days = refresh_days
        slots = (s.slot for s in map(parse, known.values()) if s is not None and s.slot is not None)
        self._next = max(slots, default=-1) + 1
        self._given: dict[str, int] = {}
        self._r1_ticked: dict[str, bool] = {}  # an r1 device: did its hash-phase period tick at this run?

    def slot(self, ident: str) -> int:
        """The device's slot: the stored one, else a new one (the same for the rest of the run)."""
        stored = parse(self.known.get(ident))
        if stored is not None and stored.slot is not None:
            return stored.slot
        if ident not in self._given:
            self._given[ident] = self._next
            self._next += 1
        return self._given[ident]

    def marker(self, wire: dict[str, Any], ident: str, now: float) -> str:
        """This run's r2 marker of the device (see ``due`` for a stored r1 one)."""
        stored = parse(self.known.get(ident))
        if stored is not None and stored.slot is None:
            self._r1_ticked[ident] = stored.period != hash_period(ident, now, self.refresh_days)
        return marker(wire, ident, now, self.refresh_days, self.slot(ident))

    def due(self, ident: str, new: str) -> Due:
        """What the device needs, its stored marker against ``new`` (from ``marker``): an r1 marker is
        refreshed only if its own hash-phase period ticked, so the upgrade is no refresh storm."""
        stored = parse(self.known.get(ident))
        if stored is None or stored.slot is not None:
            return due(self.known.get(ident), new)
        fresh = parse(new)
        return Due(enrich=fresh is None or stored.checksum != fresh.checksum,
                   refresh=self._r1_ticked.get(ident, True))


def refresh_days_of(extra: dict[str, Any]) -> float:
    """The linkage's rolling refresh period in days (the collection passes the setting in)."""
    try:
        days = float(extra.get("refresh_days", DEFAULT_REFRESH_DAYS))
    except (TypeError, ValueError):
        return DEFAULT_REFRESH_DAYS
    return days if days >= 1 else DEFAULT_REFRESH_DAYS


def server_now(headers: httpx.Headers | None, reported_ms: object = None) -> float:
    """The MDM's clock: a reported server time in ms, else the Date header, else this machine's."""
    if isinstance(reported_ms, (int, float)) and not isinstance(reported_ms, bool) and reported_ms > 0:
        return reported_ms / 1000
    raw = headers.get("date") if headers is not None else None
    if raw:
        try:
            return parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return time.time()


def changed_since(extra: dict[str, Any]) -> float | None:
    """A changed-only collection's lower bound on the MDM's clock (epoch seconds), None for a full one.
    The service sets it from the last successful run's start on the MDM's clock, minus a safety margin."""
    since = extra.get("changed_since")
    return float(since) if isinstance(since, (int, float)) and not isinstance(since, bool) else None


def iso_utc(ts: float, *, millis: bool = False) -> str:
    """An instant as ISO 8601 UTC with `Z` (MobileIron's own format has milliseconds)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return text + (f".{int(ts * 1000) % 1000:03d}Z" if millis else "Z")
