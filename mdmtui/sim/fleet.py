"""The fleet of one MDM: slots generated on demand, plus a small overlay of changes and removals."""

from __future__ import annotations

import bisect
import functools
import random
import threading
import time

from . import ids, profiles
from .catalog import catalog_for


class Fleet:
    """Devices of one MDM. Slot k is device k; ids are invertible GUIDs; nothing is stored per device
    except what actions and admin operations changed (the overlay) and the removed slots."""

    def __init__(self, seed: int, mdm: str, count: int, now: float | None = None):
        self.seed, self.mdm, self.base_count = seed, mdm, count
        self.now0 = int(now if now is not None else time.time()) // 60 * 60
        self.slot_ids = SlotIdsCache(ids.SlotIds(seed, mdm))
        self.hasher = ids.Hasher(seed, mdm)
        self.overlay: dict[int, dict] = {}
        self.extra_hw: dict[int, int] = {}       # slot -> hardware index, for added and re-enrolled slots
        self.removed: list[int] = []             # sorted
        self.next_slot = count
        self.version = 0                         # bumps on every change
        self.membership = 0                      # bumps when devices come or go (app aggregates)
        # the living fleet (day.py): check-ins kept apart from the overlay, so a device that only
        # checked in still renders through the services' fast path
        self.checkins: dict[int, tuple[int, int | None]] = {}   # slot -> (last sync, free storage)
        self.offset = 0                          # seconds the fleet's clock runs ahead of the wall clock
        self.advances = 0
        self.lock = threading.RLock()
        self.grouped_ids = profiles.GROUPED_IDS[mdm]   # IMEI/ICCID/phone with separators (see profiles)
        self._profile = functools.lru_cache(maxsize=4096)(self._make)

    # --- identity -------------------------------------------------------------------------------
    def id_of(self, slot: int) -> str:
        """The MDM id of a slot."""
        return self.slot_ids.id_of(slot)

    def slot_of(self, ident: str) -> int | None:
        """The live slot of an MDM id, or None if unknown or removed."""
        slot = self.slot_ids.slot_of(ident)
        if slot is None or not self.exists(slot):
            return None
        return slot

    def exists(self, slot: int) -> bool:
        """True when the slot holds a device now."""
        if slot < 0 or slot >= self.next_slot or (slot >= self.base_count and slot not in self.extra_hw):
            return False
        i = bisect.bisect_left(self.removed, slot)
        return not (i < len(self.removed) and self.removed[i] == slot)

    # --- enumeration ----------------------------------------------------------------------------
    def count(self) -> int:
        """How many devices the MDM has now."""
        return self.base_count + len(self.extra_hw) - len(self.removed)

    def live_slots(self, start: int = 0):
        """Live slots in order from `start` (a slot number), lazily."""
        extra = sorted(s for s in self.extra_hw if s >= start)
        removed = set(self.removed)
        for slot in range(start, self.base_count):
            if slot not in removed:
                yield slot
        for slot in extra:
            if slot not in removed:
                yield slot

    def nth_slot(self, n: int) -> int | None:
        """The slot of the n-th live device (record offsets, as MobileIron and the SDM page)."""
        if n < 0:
            return None
        slot, removed = n, self.removed
        for r in removed:                       # removals are few: walk past each one before `slot`
            if r <= slot and r < self.base_count:
                slot += 1
        if slot < self.base_count:
            return slot
        extra = sorted(s for s in self.extra_hw if s not in set(removed))
        k = slot - self.base_count
        return extra[k] if k < len(extra) else None

    # --- device facts ---------------------------------------------------------------------------
    def _make(self, hw: int) -> dict:
        prof = profiles.make_profile(self.seed, self.mdm, hw, self.now0, self.hasher)
        if self.mdm == "mobileiron":
            prof["mdm_status"] = profiles.mdm_status_of(self.seed, self.mdm, hw, self.hasher)
        return profiles.as_reported(prof, self.grouped_ids)

    def report_ids(self, grouped: bool) -> None:
        """Switch how the MDM writes IMEIs, ICCIDs and phone numbers (as after a server upgrade)."""
        with self.lock:  # the facts stay the same, only their notation: no version bump
            self.grouped_ids = grouped
            self._profile.cache_clear()

    def hw_of(self, slot: int) -> int:
        """The hardware index behind a slot (re-enrolled slots share their predecessor's)."""
        return self.extra_hw.get(slot, slot)

    def profile(self, slot: int) -> dict:
        """The device's neutral profile with its overlay applied (a fresh dict; safe to modify)."""
        prof = dict(self._profile(self.hw_of(slot)))
        self._checked_in(slot, prof)
        over = self.overlay.get(slot)
        if over:
            prof.update(over)
            profiles.as_reported(prof, self.grouped_ids)
        return prof

    def pristine(self, slot: int) -> dict | None:
        """The generated profile of a device nothing has changed (shared: do not modify), else None.
        The services' fast path renders these; changed devices go through profile() and the dict path."""
        if slot in self.overlay:
            return None
        prof = self._profile(self.extra_hw.get(slot, slot))
        if slot in self.checkins:
            prof = dict(prof)
            self._checked_in(slot, prof)
        return prof

    def _checked_in(self, slot: int, prof: dict) -> None:
        seen = self.checkins.get(slot)
        if seen is not None:
            prof["last_sync"] = seen[0]
            if seen[1] is not None:
                prof["storage_free"] = seen[1]

    def last_sync(self, slot: int) -> int | None:
        """Last contact in epoch seconds (None = never), without building the profile."""
        over = self.overlay.get(slot)
        if over and "last_sync" in over:
            return over["last_sync"]
        if slot in self.checkins:
            return self.checkins[slot][0]
        return profiles.dates_of(self.seed, self.mdm, self.hw_of(slot), self.now0, self.hasher)[1]

    def os_of(self, slot: int) -> str:
        """The device's OS, without building the profile."""
        return profiles.os_of(self.seed, self.mdm, self.hw_of(slot), self.hasher)

    def apps(self, slot: int) -> list[tuple[int, int]]:
        """The device's apps as (catalog index, version index), without building the profile."""
        over = self.overlay.get(slot) or {}
        os_name = self.os_of(slot)
        count, app_seed = profiles.apps_of(self.seed, self.mdm, self.hw_of(slot), os_name, self.hasher)
        apps = profiles.apps_from(os_name, over.get("app_count", count), app_seed)
        bumped = over.get("app_versions")       # apps updated by a living-fleet day
        return [(i, bumped.get(i, v)) for i, v in apps] if bumped else apps

    def catalog(self, slot: int):
        """The app catalog the device's OS draws from."""
        return catalog_for(self.os_of(slot))

    def update(self, slot: int, **changes) -> None:
        """Record changed facts of one device."""
        with self.lock:
            self.overlay.setdefault(slot, {}).update(changes)
            self.version += 1
            if "app_count" in changes or "app_versions" in changes:
                self.membership += 1

    def check_in(self, slot: int, when: int, storage_free: int | None) -> None:
        """The device checked in at `when` (epoch s), optionally reporting new free storage."""
        with self.lock:
            over = self.overlay.get(slot)
            if over is not None:                # a changed device: its overlay holds the newest facts
                over["last_sync"] = when
                if storage_free is not None:
                    over["storage_free"] = storage_free
            else:
                self.checkins[slot] = (when, storage_free)
            self.version += 1

    def clock(self) -> int:
        """The sim's current time in epoch seconds (real time, never before the fleet's epoch, plus the
        time `advance` moved the fleet forward)."""
        return max(int(time.time()), self.now0) + self.offset

    # --- admin operations -----------------------------------------------------------------------
    def add(self, os_name: str | None = None) -> int:
        """Enrol a new device (optionally of a given OS); returns its slot."""
        with self.lock:
            slot = self.next_slot
            self.next_slot += 1
            self.extra_hw[slot] = self._new_hw(slot, os_name)
            now = self.clock()
            self.update(slot, enrolled=now, last_sync=now)
            self.membership += 1
            return slot

    def _new_hw(self, slot: int, os_name: str | None) -> int:
        hw = 1_000_000_000 + slot
        for attempt in range(200):           # find generated hardware of the wanted OS
            candidate = hw + attempt * 7_919_000
            if os_name is None or profiles.os_of(self.seed, self.mdm, candidate, self.hasher).lower() == os_name.lower():
                return candidate
        raise ValueError(f"{self.mdm} has no {os_name} devices")

    def remove(self, slot: int) -> None:
        """Delete a device from the MDM."""
        with self.lock:
            if self.exists(slot):
                bisect.insort(self.removed, slot)
                self.version += 1
                self.membership += 1

    def reenrol(self, slot: int) -> int:
        """Re-enrol the same hardware under a new MDM id; the old id disappears."""
        with self.lock:
            hw, kept = self.hw_of(slot), dict(self.overlay.get(slot, {}))
            for key in ("wiped", "locked_at", "profile_removed", "actions", "commands"):
                kept.pop(key, None)
            self.remove(slot)
            new = self.next_slot
            self.next_slot += 1
            self.extra_hw[new] = hw
            now = self.clock()
            self.overlay[new] = {**kept, "enrolled": now, "last_sync": now}
            self.version += 1
            self.membership += 1
            return new

    def sim_swap(self, slot: int) -> None:
        """Put a new SIM in the device: new phone number, ICCID, IMSI and carrier; same IMEI."""
        prof = self.profile(slot)
        r = random.Random(ids.stable_int(self.seed, self.mdm, slot, "swap", self.version))
        carrier, plmn, issuer, cc = r.choice(ids.CARRIERS_JP)
        self.update(slot, phone=ids.phone(r, cc), iccid=ids.iccid(r, issuer), imsi=ids.imsi(r, plmn),
                    carrier=carrier, cellular=True, last_sync=self.clock(),
                    imei=prof["imei"] or ids.imei(r, prof["manufacturer"]))

    def touch(self, slot: int) -> None:
        """Make the device check in now."""
        self.update(slot, last_sync=self.clock())

    def remove_profile(self, slot: int) -> None:
        """The user removed the MDM profile: the device stops answering commands."""
        self.update(slot, profile_removed=True)


class SlotIdsCache:
    """Memoises slot ids: hashing two blake2b digests per id is the hot path of every page."""

    def __init__(self, inner: ids.SlotIds):
        self.inner = inner
        self.id_of = functools.lru_cache(maxsize=20_000)(inner.id_of)

    def slot_of(self, ident: str) -> int | None:
        """Inverse of id_of."""
        return self.inner.slot_of(ident)
