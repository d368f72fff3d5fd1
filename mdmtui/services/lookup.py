"""Finding devices from what an admin types: a name, serial number, IMEI, ICCID, phone number, UDID,
MDM id or inventory id (and, to go to a device in the console, its user or asset number).

A term may carry a prefix (``id:``, ``name:``, ``serial:``, ``imei:``, ``iccid:``, ``phone:``, ``udid:``,
``mdm:``, ``user:``, ``asset:``) to say which one it is; without one, every identifier kind is tried and
a term that matches several devices is refused with the candidates listed, so an action never lands on
a device the admin did not mean. A user or an asset number names a device only with its prefix there
(a user often has several devices); ``find`` (the console's ``:``) tries them too and lists every match.
IMEI and ICCID match in any grouping (``35-391808-912345-6``); a phone number in E.164 or national
form, with or without separators (``090-1234-5678`` names ``+819012345678``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mdmtui import identifiers
from mdmtui.errors import AmbiguousError, NotFoundError, UsageError
from mdmtui.services.context import Context
from mdmtui.storage import lookup as stored
from mdmtui.storage.devices import DeviceRow, StoredDevice

KINDS = ("id", "name", "serial", "imei", "iccid", "phone", "udid", "mdm")  # tried without a prefix
PREFIX_ONLY = ("user", "asset")  # several devices often share them: by prefix only (``find``: always)
PREFIXES = KINDS + PREFIX_ONLY
_CHUNK = stored.CHUNK  # terms per query: the IN lists and phone LIKEs stay under SQLite's old 999-variable limit


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    kind: str | None  # None: try every kind of ``kinds``
    kinds: tuple[str, ...] = KINDS

    @property
    def lowered(self) -> str:
        return self.text.lower()

    @property
    def imei(self) -> str | None:
        """IMEI (14-16 digits) or, with the ``imei:`` prefix, a hex MEID: without separators, as stored."""
        if not (identifiers.looks_like_number(self.text) or self.kind == "imei"):
            return None
        compact = identifiers.hardware_id(self.text)
        return compact if compact and 14 <= len(compact) <= 16 else None

    @property
    def iccid(self) -> str | None:
        """An ICCID (18-22 digits) without separators."""
        if not identifiers.looks_like_number(self.text):
            return None
        compact = identifiers.hardware_id(self.text)
        return compact if compact and compact.isdigit() and 18 <= len(compact) <= 22 else None

    @property
    def phone(self) -> str | None:
        """The number's E.164 form (or its bare digits) when the term reads as a phone number."""
        if not identifiers.looks_like_number(self.text):
            return None
        digits = identifiers.strip_separators(self.text).lstrip("+")
        return identifiers.phone_key(self.text) if len(digits) >= identifiers.MIN_NATIONAL_DIGITS else None

    @property
    def device_id(self) -> int | None:
        return int(self.text) if self.text.isdigit() and len(self.text) < 10 else None

    def tries(self, kind: str) -> bool:
        """Whether this term is looked for as ``kind``."""
        return self.kind == kind if self.kind else kind in self.kinds


def resolve(ctx: Context, term: str) -> StoredDevice:
    """The one device ``term`` names; NotFoundError or AmbiguousError (with candidates) otherwise."""
    return resolve_many(ctx, [term])[0]


def resolve_many(ctx: Context, terms: Sequence[str]) -> list[StoredDevice]:
    """The devices the terms name, in order and without repeats; one error lists every bad term."""
    parsed = [_parse(t) for t in terms]
    if not parsed:
        raise UsageError("name at least one device (name, serial, IMEI, phone number or id)")
    pool = _candidates(parsed)
    assets = _assets(pool) if any(t.kind in PREFIX_ONLY for t in parsed) else {}
    found: dict[int, StoredDevice] = {}
    missing: list[str] = []
    ambiguous: dict[str, list[StoredDevice]] = {}
    for term in parsed:
        matches = [d for d in pool if _matches(term, d, assets)]
        if not matches:
            missing.append(term.text)
        elif len(matches) > 1:
            ambiguous[term.text] = sorted(matches, key=lambda d: d.id)
        else:
            found.setdefault(matches[0].id, matches[0])
    _raise_problems(missing, ambiguous)
    return list(found.values())


def find(ctx: Context, term: str, limit: int = 10) -> tuple[list[StoredDevice], int]:
    """The devices ``term`` names exactly, by any identifier, its user or asset number (the console's
    ``:``): at most ``limit`` of them by name (unnamed ones last), and how many there are."""
    parsed = _parse(term, PREFIXES)
    condition = _condition([parsed])
    # a term thousands of devices share ("iPhone", a big team's user) reads a bounded pool, in order
    cap = max(limit * 20, 200)
    pool = stored.first_candidates(condition, cap)
    assets = _assets(pool) if parsed.tries("asset") or parsed.tries("user") else {}
    matches = [d for d in pool if _matches(parsed, d, assets)]
    total = len(matches) if len(pool) < cap else stored.count_candidates(condition)  # candidates: ~all match
    return matches[:limit], total


def describe(device: StoredDevice | DeviceRow) -> str:
    """One line that tells devices apart: id, name, serial, IMEI, OS class and linkage."""
    parts = [f"id {device.id}", f"'{device.computer_name or '(no name)'}'"]
    if device.serial_number:
        parts.append(f"serial {device.serial_number}")
    if device.imei:
        parts.append(f"IMEI {device.imei}")
    parts.append(f"[{device.os_class}, {device.linkage_name or 'no linkage'}]")
    return " ".join(parts)


class Named(Protocol):
    """What names a device to the admin: a stored device, a listed row, the device of an action."""

    @property
    def computer_name(self) -> str | None: ...
    @property
    def serial_number(self) -> str | None: ...
    @property
    def mdm_device_id(self) -> str: ...


def confirm_label(device: Named) -> str:
    """What the admin types to confirm a wipe: the device name, else its serial or MDM id."""
    return device.computer_name or device.serial_number or device.mdm_device_id


def _parse(text: str, kinds: tuple[str, ...] = KINDS) -> _Term:
    raw = text.strip()
    kind, sep, rest = raw.partition(":")
    if sep and kind.lower() in PREFIXES and rest.strip():
        return _Term(rest.strip(), kind.lower(), kinds)
    if not raw:
        raise UsageError("an empty device name was given")
    return _Term(raw, None, kinds)


def _candidates(terms: list[_Term]) -> list[StoredDevice]:
    pool: dict[int, StoredDevice] = {}
    for start in range(0, len(terms), _CHUNK):
        chunk = terms[start:start + _CHUNK]
        for device in stored.candidates(_condition(chunk)):
            pool[device.id] = device
    return list(pool.values())


def _assets(pool: list[StoredDevice]) -> dict[int, tuple[str, str]]:
    """device id -> (asset number, assigned user), lower-cased, of the pool's devices that have them."""
    return stored.assets([d.id for d in pool])


def _condition(terms: list[_Term]) -> stored.Wanted:
    def of(kind: str) -> list[_Term]:
        return [t for t in terms if t.tries(kind)]

    return stored.Wanted(
        ids=[t.device_id for t in of("id") if t.device_id is not None],
        names=[t.lowered for t in of("name")],
        serials=[t.lowered for t in of("serial")],
        imeis=[t.imei for t in of("imei") if t.imei is not None],
        iccids=[t.iccid for t in of("iccid") if t.iccid is not None],
        mdm_ids=[t.lowered for t in of("mdm")],
        # UDIDs are stored as the MDM sent them (Apple's upper-case hex): the indexed column, in the usual cases
        udids=[form for t in of("udid") for form in {t.text, t.text.upper(), t.text.lower()}],
        users=[t.lowered for t in of("user")],
        asset_numbers=[t.lowered for t in of("asset")],
        phones=[(t.phone.lstrip("+"), t.text) for t in of("phone") if t.phone is not None],
    )


def _matches(term: _Term, device: StoredDevice, assets: dict[int, tuple[str, str]] | None = None) -> bool:
    asset_number, assigned_user = (assets or {}).get(device.id, ("", ""))
    checks = {
        "id": lambda: term.device_id is not None and device.id == term.device_id,
        "name": lambda: (device.computer_name or "").lower() == term.lowered,
        "serial": lambda: (device.serial_number or "").lower() == term.lowered,
        "imei": lambda: term.imei is not None and device.imei == term.imei,
        "iccid": lambda: term.iccid is not None and device.iccid == term.iccid,
        "phone": lambda: term.phone is not None and identifiers.phone_matches(term.text, device.phone_number),
        "udid": lambda: (device.udid or "").lower() == term.lowered,
        "mdm": lambda: device.mdm_device_id.lower() == term.lowered,
        "user": lambda: term.lowered in ((device.user_name or "").lower(), assigned_user),
        "asset": lambda: asset_number == term.lowered,
    }
    return any(checks[k]() for k in PREFIXES if term.tries(k))


def _raise_problems(missing: list[str], ambiguous: dict[str, list[StoredDevice]]) -> None:
    if ambiguous:
        lines = [f"'{t}' matches {len(ds)} devices" for t, ds in ambiguous.items()]
        if missing:
            lines.append("no device matches " + ", ".join(f"'{t}'" for t in missing))
        candidates = [describe(d) for ds in ambiguous.values() for d in ds]
        raise AmbiguousError("; ".join(lines) + " — name each by id (id:N), serial:, imei:, phone: or name:",
                             candidates)
    if missing:
        raise NotFoundError("no device matches " + ", ".join(f"'{t}'" for t in missing)
                            + " (give a device name, serial number, IMEI, ICCID, phone number or id)")
