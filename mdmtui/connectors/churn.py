"""Change markers that ignore check-in churn, and the rolling refresh of facts no list shows.

A device checks in every few hours: its sync time and free storage move, nothing an enrichment call
yields does. So the marker is a checksum of the list fields that *can* signal a changed enrichment
(identity, SIM, hardware, OS), never of the churning ones; the list's own values (sync time, free
storage) are stored from the list at every run without any extra request.

Facts that only a per-device call gives and that can change with no listed field moving (MobileIron's
passcode state, a device's installed software) are refreshed on a rolling period instead: each device
has a fixed phase inside the period (from a hash of its MDM id), and the marker carries the number of
the period the device is in. The number ticks for about 1/period of the fleet each day, so each daily
run refreshes about a seventh of the fleet at the default 7 days; a skipped run loses nothing (the
next one sees every tick it missed). "Now" is the MDM's own clock (the answer's Date header or the
server time it reports) when it gives one, so a clock-skewed collector refreshes on the MDM's day.

Marker format: ``r1|<checksum of the stable list fields>|<rolling period number>``. A stored marker of
any other shape (an older release's, or None after a failed enrichment) reads as "everything changed".
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

DAY_S = 86_400
DEFAULT_REFRESH_DAYS = 7
PREFIX = "r1"

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


def marker(wire: dict[str, Any], ident: str, now: float, refresh_days: float) -> str:
    """The device's change marker: stable list fields' checksum plus its rolling period number."""
    stable = "\x1f".join(f"{k}={v}" for k, v in sorted(wire.items()) if k not in CHURN_KEYS)
    # surrogatepass: a lone surrogate from JSON's "\ud800" must not fail the run (as in mapping.change_marker)
    checksum = zlib.crc32(stable.encode("utf-8", "surrogatepass"))
    return f"{PREFIX}|{checksum:08x}|{period_number(ident, now, refresh_days)}"


def period_number(ident: str, now: float, refresh_days: float) -> int:
    """Which rolling period the device is in: ticks once per period, at a per-device phase."""
    period = max(1.0, refresh_days * DAY_S)
    phase = (zlib.crc32(ident.encode("utf-8", "surrogatepass")) / 2**32) * period
    return int((now + phase) // period)


def due(stored: str | None, new: str) -> Due:
    """Compare a stored marker with this run's: new device or changed list fields -> enrich; only a
    new period -> refresh; same -> nothing."""
    if stored is None or stored.count("|") != 2 or not stored.startswith(PREFIX + "|"):
        return Due(enrich=True, refresh=True)
    _, old_sum, old_period = stored.split("|")
    _, new_sum, new_period = new.split("|")
    return Due(enrich=old_sum != new_sum, refresh=old_period != new_period)


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
