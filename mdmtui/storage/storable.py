"""What the database can hold of a device as an MDM sent it, the same on SQLite and PostgreSQL.

PostgreSQL text cannot hold NUL, no database driver can encode a lone UTF-16 surrogate (JSON may
carry ``"\\ud800"``), a b-tree index entry holds at most about 2.7 kB and a BIGINT 64 bits. One odd
value must never fail a whole collection, so values are adjusted, never refused, and every
adjustment is reported for the run's warnings. Both dialects get the same adjusted value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from peewee import BigIntegerField, TextField

from mdmtui.storage.models import Device
from mdmtui.records import COLLECTED_FIELDS, DeviceRecord, SoftwareItem

REPLACEMENT = "\ufffd"  # U+FFFD: shows that a character was there (stripping would hide it)
# 500 characters are at most 2,000 bytes of UTF-8: below PostgreSQL's b-tree entry limit (2,704 bytes)
INDEXED_MAX_CHARS = 500
MAX_BIGINT = 2**63 - 1
# A software name and version sit together in two indexes (software(name, version, device) and the counts'
# (name, version, linkage)): at 4 bytes a character, 300 + 100 + a linkage name of 255 fit PostgreSQL's entry.
SOFTWARE_LIMITS = {"name": 300, "version": 100}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _indexed_text_columns() -> frozenset[str]:
    """Device's TEXT columns inside an index: their values must fit an index entry."""
    meta = Device._meta
    names = {f.name for f in meta.sorted_fields if isinstance(f, TextField) and (f.index or f.unique)}
    for fields, _unique in meta.indexes:
        names |= {n for n in fields if isinstance(meta.fields.get(n), TextField)}
    return frozenset(names)


INDEXED = _indexed_text_columns()
_TEXT_FIELDS = tuple(f for f in COLLECTED_FIELDS if isinstance(Device._meta.fields.get(f), TextField))
_INT_FIELDS = tuple(f for f in COLLECTED_FIELDS if isinstance(Device._meta.fields.get(f), BigIntegerField))
INDEXED_ORDER = tuple(f for f in _TEXT_FIELDS if f in INDEXED)
_get_text, _get_indexed, _get_int = (attrgetter(*names) for names in (_TEXT_FIELDS, INDEXED_ORDER, _INT_FIELDS))


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One value changed to fit the database: which device, which item, what was done."""

    device: str  # how the run's warning names the device
    field: str
    what: str

    def __str__(self) -> str:
        return f"{self.device}: {self.field.replace('_', ' ')}: {self.what}"


def text(value: str, limit: int | None = None) -> tuple[str, str | None]:
    """``value`` as it can be stored, and what was changed (None: nothing)."""
    done = []
    if not _plain((value,)):
        nul = value.count("\x00")
        if nul:
            done.append(f"{_count(nul, 'NUL character')} replaced by U+FFFD")
        lone = len(_UNSTORABLE.findall(value)) - nul
        if lone:
            done.append(f"{_count(lone, 'invalid character')} (lone UTF-16 surrogate) replaced by U+FFFD")
        value = _UNSTORABLE.sub(REPLACEMENT, value)
    if limit is not None and len(value) > limit:
        done.append(f"cut to {limit:,} characters (was {len(value):,})")
        value = value[:limit]
    return value, "; ".join(done) or None


def clean(value: str | None) -> str | None:
    """``value`` as any text column can hold it (an MDM's answer, an error text): NUL and lone surrogates
    replaced by U+FFFD; None stays None."""
    return value if value is None or _plain((value,)) else _UNSTORABLE.sub(REPLACEMENT, value)


def device(record: DeviceRecord) -> tuple[bool, list[Adjustment]]:
    """Make ``record`` storable in place; False when its MDM id cannot be stored (skip the device).

    An MDM id is never altered: an action sent to an altered id would address another device.
    Runs for every device of every run: the common case is one scan of the joined values.
    """
    ident, problem = text(record.mdm_device_id, INDEXED_MAX_CHARS)
    if problem:
        return False, [Adjustment(_name(record), "MDM id", f"{problem}: the device was not stored "
                                                           "(an altered id would address another device)")]
    adjustments: list[Adjustment] = []
    values = _get_text(record)
    if _plain(filter(None, values)):
        suspects = [(n, v) for n, v in zip(INDEXED_ORDER, _get_indexed(record)) if v and len(v) > INDEXED_MAX_CHARS]
    else:
        suspects = [(n, v) for n, v in zip(_TEXT_FIELDS, values) if v]
    for name, value in suspects:
        fixed, problem = text(value, INDEXED_MAX_CHARS if name in INDEXED else None)
        if problem:
            setattr(record, name, fixed)
            adjustments.append(Adjustment(_name(record), name, problem))
    if _numbers_suspect(record):
        adjustments += _numbers(record)
    if record.change_marker is not None:  # opaque bookkeeping: cleaned silently, the same every run
        record.change_marker = text(record.change_marker)[0]
    if record.software:
        adjustments += _software(record, record.software)
    return True, adjustments


def _numbers(record: DeviceRecord) -> list[Adjustment]:
    out = []
    for name in _INT_FIELDS:
        value = getattr(record, name)
        if isinstance(value, int) and not -MAX_BIGINT <= value <= MAX_BIGINT:
            setattr(record, name, None)
            out.append(Adjustment(_name(record), name, f"{_clip(str(value), 30)} is beyond 64 bits: not collected"))
    return out


def _software(record: DeviceRecord, items: list[SoftwareItem]) -> list[Adjustment]:
    names, versions = [s.name for s in items], list(filter(None, [s.version for s in items]))
    if _plain(names) and _plain(versions) and _plain(filter(None, [s.vendor for s in items])) \
            and max(map(len, names), default=0) <= SOFTWARE_LIMITS["name"] \
            and max(map(len, versions), default=0) <= SOFTWARE_LIMITS["version"]:
        return []
    changed = 0
    for item in items:
        for name in ("name", "version", "vendor"):
            value = getattr(item, name)
            if value is not None:
                fixed, problem = text(value, SOFTWARE_LIMITS.get(name))
                if problem:
                    setattr(item, name, fixed)
                    changed += 1
    if not changed:
        return []
    return [Adjustment(_name(record), "software", f"{_count(changed, 'value')} with NUL or invalid characters "
                       f"(replaced by U+FFFD) or too long for the software index (cut to "
                       f"{SOFTWARE_LIMITS['name']} characters a name, {SOFTWARE_LIMITS['version']} a version)")]


def _plain(values: Iterable[str]) -> bool:
    """True when no value holds an unstorable character (C-speed scans of the joined values)."""
    joined = "".join(values)
    if "\x00" in joined:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")  # fails on a lone surrogate only; 10x faster than a regex scan
    except UnicodeEncodeError:
        return False
    return True


def _numbers_suspect(record: DeviceRecord) -> bool:
    """Cheap: could any number be beyond 64 bits? (The sum overestimates; ``_numbers`` checks exactly.)"""
    try:
        total: int = sum(map(abs, filter(None, _get_int(record))))  # attrgetter's values are Any
        return total > MAX_BIGINT
    except TypeError:  # not a number at all: let the exact check decide
        return True


def _name(record: DeviceRecord) -> str:
    """The device as a warning names it: its name (as stored) and MDM id, control characters escaped."""
    ident = _short(record.mdm_device_id)
    if record.computer_name:
        return f"device {_short(record.computer_name)} (MDM id {ident})"
    return f"device {ident}"


def _short(value: str) -> str:
    return repr(_UNSTORABLE.sub(REPLACEMENT, _clip(value, 40)))  # repr escapes control characters


def _clip(value: str, keep: int) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
