"""Inventory queries for the console and the CLI: filter, count, page, detail, software, history,
licenses, asset information and the explicit, audited deletion of device information.

Everything filters, sorts and pages in SQL, so a 100,000-device inventory answers a keystroke in a
few tens of milliseconds. Functions run on the caller's thread and connection (the console calls
them in thread workers inside ``db.connection_context()``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import JOIN, SQL, Case, NodeList, PostgresqlDatabase, fn

from mdmtui import capabilities, filterlang, identifiers, mapping
from mdmtui.errors import ActionRefused, NotFoundError, UsageError
from mdmtui.formatting import printable
from mdmtui.storage.models import AssetInfo, Device, DeviceAction, DeviceHistory, Linkage, Software, utcnow
from mdmtui.records import OsClass
from mdmtui.services import audit, roles, software
from mdmtui.services.collection import SEARCHED
from mdmtui.services.context import Context
from mdmtui.storage import search_index
from mdmtui.storage.interrupt import Interrupter  # noqa: F401 - the console stops stale counts with it

# Columns the device list shows (and the rows of ``page`` carry); also the allowed sort keys.
LIST_COLUMNS = (
    "id", "computer_name", "os_class", "os_name", "os_version", "model", "manufacturer", "serial_number", "imei",
    "udid", "phone_number", "carrier", "user_name", "device_type", "device_status", "last_alive_at", "linkage_name",
    "missing_since", "passcode_set", "jailbroken", "encrypted", "mdm_managed", "mdm_status", "linkage_id",
    "mdm_device_id",
    "duplicate_of", "managed", "orphaned",
)
PAGE_COLUMNS = ("compliance", "iccid")  # also on a page (the console's optional columns), not in the CLI's list
PAGE_ASSET_COLUMNS = ("asset_number", "assigned_user")  # from the asset information, one subquery per page row
SORT_KEYS = frozenset(LIST_COLUMNS + PAGE_COLUMNS + PAGE_ASSET_COLUMNS) | {"security"}
SECURITY_PROBLEMS = {
    "unmanaged": "profile removed / not MDM-managed",  # no command reaches it (capabilities.state_refusal)
    "passcode": "passcode not set",
    "jailbroken": "jailbroken / rooted",
    "unencrypted": "not encrypted",
    "stale": "not seen for a while",
}
NOT_FINAL = ("pending", "unknown")  # action outcomes the MDM has not settled yet
ASSET_FIELDS = ("asset_number", "department", "location", "assigned_user", "notes")
_CHUNK = 500


@dataclass
class DeviceFilter:
    """What the device list shows: a text search, quick filters and the order."""

    text: str | None = None  # matches name, serial, IMEI, UDID, phone number (any form) or user (part, any case)
    linkage: str | None = None
    os_class: str | None = None
    device_status: str | None = None
    missing: bool | None = None  # True: only devices missing from their MDM; False: only present ones
    security_problem: bool | str | None = None  # True: any; or one of SECURITY_PROBLEMS' keys
    sort: str = "computer_name"
    descending: bool = False
    stale_days: int = 30
    device_id: int | None = None  # exactly this device (the console opens an event's device by its id)
    # the overview's drill-downs (each of its counts is one of these)
    os_name: str | None = None  # exactly this OS name; NOT_COLLECTED: the devices whose OS is not collected
    os_version: str | None = None  # exactly this version; NOT_COLLECTED likewise
    duplicates: bool | None = None  # True: the devices whose hardware is also seen through another linkage
    seen_after: datetime | None = None  # last alive confirmation at or after this instant
    seen_before: datetime | None = None  # ... before this instant
    seen_unknown: bool | None = None  # True: no last alive confirmation collected
    licensed: bool | None = None  # True: managed and using a license
    action: str | None = None  # "pending": an action not yet final; "failed": an action that failed
    action_since: datetime | None = None  # with ``action``: requested at or after this instant
    # the Software screen's
    software_title: str | None = None  # devices with software of exactly this name (the Software screen)
    software_version: str | None = None  # ... in this version ("" = version not collected); needs the title
    without_software: bool = False  # the inverse: devices WITHOUT that title (or version), e.g. a required app
    terms: tuple[filterlang.Term, ...] = ()  # the filter language's terms (filterlang.parse), all ANDed


NOT_COLLECTED = ""  # as DeviceFilter.os_name/os_version: the item was not collected (NULL)
ACTION_STATES = {"pending": NOT_FINAL, "failed": ("failed",)}


# ------------------------------------------------------------------------------------------- listing


def count(f: DeviceFilter) -> int:
    """How many devices match."""
    return _filtered(Device.select(fn.COUNT(Device.id)), f).scalar() or 0


def page(f: DeviceFilter, offset: int = 0, limit: int = 100) -> list[Device]:
    """One page of matching devices in the filter's order (rows carry ``LIST_COLUMNS``, ``PAGE_COLUMNS``,
    the ``PAGE_ASSET_COLUMNS`` of their asset information and ``action_pending`` only)."""
    if limit <= 0:
        return []
    columns = [Device._meta.columns[c] for c in LIST_COLUMNS + PAGE_COLUMNS]
    columns += [_asset_value(name).alias(name) for name in PAGE_ASSET_COLUMNS]
    columns.append(_action_pending().alias("action_pending"))
    query = _ordered(_filtered(Device.select(*columns), f), f).offset(max(offset, 0)).limit(limit)
    return list(query)


def _action_pending():
    """Whether the device has an action not yet final: a correlated EXISTS on device_action's device_id
    index (only the page's rows evaluate it)."""
    return fn.EXISTS(DeviceAction.select(SQL("1")).where(
        (DeviceAction.device == Device.id) & DeviceAction.outcome.in_(NOT_FINAL)))


def _asset_value(name: str):
    """One asset information field of the device: a correlated subquery on asset_info's unique device_id
    (only the page's rows evaluate it; no join that every count and id list would pay)."""
    return AssetInfo.select(getattr(AssetInfo, name)).where(AssetInfo.device == Device.id)


def pending_action_count() -> int:
    """How many actions across the fleet are not yet final (the console's header badge)."""
    return DeviceAction.select().where(DeviceAction.outcome.in_(NOT_FINAL)).count()


def ids(f: DeviceFilter) -> list[int]:
    """Every matching device id, in the filter's order (for bulk selection)."""
    return [i for (i,) in _ordered(_filtered(Device.select(Device.id), f), f).tuples()]


def iter_devices(f: DeviceFilter, chunk: int = 1000) -> Iterator[tuple[Device, AssetInfo | None]]:
    """Every matching device with all its items and asset information, in the filter's order, streamed.

    Only the ordered ids are held (a few MB at 100,000 devices); rows come in chunks by id.
    """
    wanted = ids(f)
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        query = Device.select(Device, AssetInfo).join(
            AssetInfo, JOIN.LEFT_OUTER, on=(AssetInfo.device == Device.id), attr="asset_row")
        rows = {d.id: d for d in query.where(Device.id.in_(part))}
        for device_id in part:
            device = rows.get(device_id)
            if device is not None:  # deleted meanwhile
                yield device, getattr(device, "asset_row", None)


def _filtered(query, f: DeviceFilter):
    if f.device_id is not None:
        query = query.where(Device.id == f.device_id)
    if f.text and f.text.strip():
        query = query.where(_text_condition(f.text.strip()))
    if f.linkage:
        query = query.where(Device.linkage_name == f.linkage)
    if f.os_class:
        query = query.where(Device.os_class == _os_class(f.os_class))
    if f.device_status:
        query = query.where(fn.LOWER(Device.device_status) == f.device_status.lower())
    if f.missing is not None:
        query = query.where(Device.missing_since.is_null(not f.missing))
    if f.security_problem:
        query = query.where(_security_condition(f.security_problem, f.stale_days))
    for cond in _drill_down_conditions(f):
        query = query.where(cond)
    if f.software_title is not None:
        query = query.where(_software_condition(f))
    for term in f.terms:
        query = query.where(_term_condition(term, f.stale_days))
    return query


def _drill_down_conditions(f: DeviceFilter) -> Iterator[Any]:
    """The SQL conditions of the overview's drill-down fields that are set."""
    for column, value in ((Device.os_name, f.os_name), (Device.os_version, f.os_version)):
        if value is not None:
            yield column.is_null() if value == NOT_COLLECTED else (column == value)
    if f.duplicates is not None:
        cond = duplicate_condition()
        yield cond if f.duplicates else ~cond
    if f.seen_after is not None:
        yield Device.last_alive_at >= f.seen_after
    if f.seen_before is not None:
        yield Device.last_alive_at < f.seen_before
    if f.seen_unknown is not None:
        yield Device.last_alive_at.is_null(bool(f.seen_unknown))
    if f.licensed is not None:
        licensed = (Device.managed == True) & (Device.consumes_license == True)  # noqa: E712
        yield licensed if f.licensed else ~licensed
    if f.action is not None:
        yield fn.EXISTS(_actions_of_device(f.action, f.action_since))


def duplicate_condition():
    """The device's hardware is also seen through another linkage: it points at the other device, or
    another device points at it (``duplicate_of`` is set on the second sighting only)."""
    pointed = Device.alias("pointing")
    return Device.duplicate_of.is_null(False) | Device.id.in_(
        pointed.select(pointed.duplicate_of).where(pointed.duplicate_of.is_null(False)))


def _actions_of_device(state: str, since: datetime | None):
    if state not in ACTION_STATES:
        raise UsageError(f"unknown action state '{state}': choose from {', '.join(ACTION_STATES)}")
    query = DeviceAction.select(SQL("1")).where(
        (DeviceAction.device == Device.id) & DeviceAction.outcome.in_(ACTION_STATES[state]))
    return query.where(DeviceAction.requested_at >= since) if since is not None else query


def _software_condition(f: DeviceFilter):
    """IN / NOT IN the devices of one title (or version): one range of the software(name, version, device)
    index, read once per query rather than once per device."""
    having = Software.select(Software.device).where(Software.name == f.software_title)
    if f.software_version is not None:
        having = having.where(Software.version.is_null() if f.software_version == ""
                              else Software.version == f.software_version)
    return Device.id.not_in(having) if f.without_software else Device.id.in_(having)


def filter_text(text: str | None, **fields: Any) -> DeviceFilter:
    """The DeviceFilter of a filter-language text (FilterError when it cannot be read)."""
    return DeviceFilter(terms=filterlang.parse(text), **fields)


def filter_terms(f: DeviceFilter) -> tuple[filterlang.Term, ...]:
    """The filter language's terms for everything ``f`` selects (its quick filters, text, one device and
    terms): ``filterlang.format`` of them is text the admin can read and edit in the ``/`` prompt."""
    Term = filterlang.Term
    terms: list[filterlang.Term] = []
    if f.device_id is not None:
        terms.append(Term(str(f.device_id), "id"))
    if f.text and f.text.strip():
        terms.append(Term(f.text.strip()))
    if f.linkage:
        terms.append(Term(f.linkage, "linkage", "="))
    if f.os_class:
        terms.append(Term(_os_class(f.os_class), "os"))
    if f.device_status:
        terms.append(Term(f.device_status, "status"))
    if f.missing is not None:
        terms.append(Term("yes" if f.missing else "no", "missing"))
    if f.security_problem:
        terms.append(Term("any" if f.security_problem is True else f.security_problem, "security"))
    return tuple(terms) + tuple(f.terms)


def filter_as_text(f: DeviceFilter) -> str:
    """``f`` as filter-language text (see ``filter_terms``); its sort is not part of it."""
    return filterlang.format(filter_terms(f))


def _term_condition(term: filterlang.Term, stale_days: int):
    """One term of the filter language in SQL; a negated term also takes the rows where it is unknown
    (``!carrier:docomo`` keeps the devices without a carrier)."""
    cond = _text_condition(term.value) if term.field is None else _FIELD_CONDITIONS[term.spec.kind](term, stale_days)
    return Case(None, [(cond, 1)], 0) == 0 if term.negated else cond


_TEXT_COLUMNS = {"model": Device.model, "carrier": Device.carrier, "linkage": Device.linkage_name,
                 "user": Device.user_name, "serial": Device.serial_number}


def _part_of(column, value: str):
    """``value`` as a part of ``column``, any case, % and _ literally."""
    return NodeList((fn.LOWER(column), SQL("LIKE"), _pattern(value), SQL("ESCAPE '\\'")))


def _text_field(term: filterlang.Term, _stale_days: int):
    name, value = term.field, term.value
    if name in _TEXT_COLUMNS:
        column = _TEXT_COLUMNS[name]
        return fn.LOWER(column) == value.lower() if term.op == "=" else _part_of(column, value)
    if name == "imei":
        return _part_of(Device.imei, identifiers.strip_separators(value) or value)
    if name == "phone":  # the phone's forms are in search_text (E.164, national, as sent)
        return _phone_condition(value)
    if name == "software":
        return fn.EXISTS(Software.select(SQL("1")).where(
            (Software.device == Device.id) & _exact_or_part(Software.name, term)))
    column = AssetInfo.asset_number if name == "asset" else AssetInfo.department
    return fn.EXISTS(AssetInfo.select(SQL("1")).where(
        (AssetInfo.device == Device.id) & _exact_or_part(column, term)))


def _exact_or_part(column, term: filterlang.Term):
    return fn.LOWER(column) == term.value.lower() if term.op == "=" else _part_of(column, term.value)


def _phone_condition(value: str):
    """Digits of the stored number (separators and + dropped) containing the typed digits, or, for a
    national form (0…), the same number with the country code: ``07093079041`` finds ``+81 70-9307-9041``."""
    digits = "".join(c for c in value if c.isdigit())
    if not digits:
        return _part_of(Device.phone_number, value)
    stored = Device.phone_number
    for sep in ("+", "-", " ", "(", ")", ".", "/"):
        stored = fn.REPLACE(stored, sep, "")
    needles = [digits]
    if digits.startswith(identifiers.TRUNK_PREFIX) and not digits.startswith(identifiers.TRUNK_PREFIX * 2):
        needles.append(identifiers.COUNTRY_CODE + digits[len(identifiers.TRUNK_PREFIX):])
    cond = None
    for needle in needles:
        one = NodeList((stored, SQL("LIKE"), _pattern(needle), SQL("ESCAPE '\\'")))
        cond = one if cond is None else (cond | one)
    return cond


def _pattern(value: str) -> str:
    return "%" + value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _os_field(term: filterlang.Term, _stale_days: int):
    if term.value in filterlang.OS_CLASSES:
        return Device.os_class == term.value
    return _part_of(Device.os_name, term.value)


def _exact_field(term: filterlang.Term, _stale_days: int):
    return fn.LOWER(Device.device_status) == term.value.lower()


def _security_field(term: filterlang.Term, stale_days: int):
    return _security_condition(True if term.value == "any" else term.value, stale_days)


def _age_field(term: filterlang.Term, _stale_days: int):
    since = utcnow() - timedelta(hours=term.hours())
    return Device.last_alive_at < since if term.op == ">" else Device.last_alive_at >= since


def _yesno_field(term: filterlang.Term, _stale_days: int):
    if term.field == "missing":
        return Device.missing_since.is_null(not term.flag())
    pending = _action_pending()
    return pending if term.flag() else ~pending


def _id_field(term: filterlang.Term, _stale_days: int):
    return Device.id == int(term.value)


def _version_field(term: filterlang.Term, _stale_days: int):
    """The OS version against ``term``'s, number by number (17.10 > 17.9; a missing part counts as 0); a
    version that does not start with a digit matches no comparison."""
    wanted = term.version()
    wanted += (0,) * (_VERSION_PARTS - len(wanted))  # 10.0.22631.3007 > 10.0.22631
    parts = [_version_part(k) for k in range(_VERSION_PARTS)]
    starts_with_digit = (NodeList((Device.os_version, SQL("~"), "^[0-9]")) if _postgres()
                         else NodeList((Device.os_version, SQL("GLOB"), "[0-9]*")))
    if not term.op:  # 17: 17 itself and every 17.x
        prefix = term.value
        return (Device.os_version == prefix) | Device.os_version.startswith(prefix + ".")
    return starts_with_digit & _compare(parts, list(wanted), term.op)


_VERSION_PARTS = 4  # as many as filterlang takes


def _compare(parts: list, wanted: list[int], op: str):
    """Lexicographic comparison of SQL numbers with Python ones: a < b at the first part that differs."""
    strict = op in {"<", ">"}
    less = op.startswith("<")
    head, first = parts[0], wanted[0]
    if len(parts) == 1:
        if strict:
            return head < first if less else head > first
        return head <= first if less else head >= first
    beyond = head < first if less else head > first
    return beyond | ((head == first) & _compare(parts[1:], wanted[1:], op))


def _version_part(k: int):
    """The k-th (0-based) number of the OS version in SQL (0 when absent)."""
    if _postgres():
        piece = fn.split_part(Device.os_version, ".", k + 1)
        digits = fn.COALESCE(fn.SUBSTRING(NodeList((piece, SQL("FROM"), "^[0-9]+"), glue=" ")), "0")
        return NodeList((SQL("CAST("), digits, SQL("AS NUMERIC)")), glue=" ")
    rest = Device.os_version
    for _ in range(k):  # what follows the next "." ('' when there is none)
        rest = Case(None, [(fn.INSTR(rest, ".") > 0, fn.SUBSTR(rest, fn.INSTR(rest, ".") + 1))], "")
    return NodeList((SQL("CAST("), rest, SQL("AS INTEGER)")), glue=" ")


def _postgres() -> bool:
    return isinstance(Device._meta.database, PostgresqlDatabase)


_FIELD_CONDITIONS = {"text": _text_field, "os": _os_field, "exact": _exact_field, "security": _security_field,
                     "age": _age_field, "yesno": _yesno_field, "id": _id_field, "version": _version_field}


def _os_class(value: str) -> str:
    for cls in OsClass:
        if value.lower() == cls.value.lower():
            return cls.value
    raise UsageError(f"unknown OS class '{value}': choose from {', '.join(c.value for c in OsClass)}")


def _text_condition(text: str):
    """A part of any searched column, case-insensitively; % and _ are matched literally.

    A number typed with separators (``35-391808-912345-6``, ``090-1234``) is also looked for without
    them: identifiers are stored, and phone numbers indexed, that way (``identifiers``).
    """
    cond = None
    for needle in identifiers.search_needles(text):
        one = search_index.condition(needle.lower())  # the trigram index; a term too short for it: a scan
        if one is None:
            one = _like_condition(needle)
        cond = one if cond is None else (cond | one)
    return cond


def _like_condition(text: str):
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"

    def like(column):
        return NodeList((column, SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))

    fallback = None  # rows no collection wrote (search_text NULL): the columns themselves
    for name in SEARCHED:
        cond = like(fn.LOWER(getattr(Device, name)))
        fallback = cond if fallback is None else (fallback | cond)
    return like(Device.search_text) | (Device.search_text.is_null() & fallback)


# Security problems in SQL, with the weight that orders them when sorting by security (worst first).
SECURITY_WEIGHTS = {"unmanaged": 16, "jailbroken": 8, "passcode": 4, "unencrypted": 2, "stale": 1}


def _security_conditions(stale_days: int) -> dict[str, Any]:
    return {
        # as _state_flag shows it: no profile, or any MDM state but active (retired, wiped, blocked, lost...)
        "unmanaged": (Device.mdm_managed == False)  # noqa: E712
        | fn.UPPER(fn.TRIM(Device.mdm_status)).not_in(["", "ACTIVE"]),
        "passcode": Device.passcode_set == False,  # noqa: E712 - SQL, not Python truthiness
        "jailbroken": Device.jailbroken == True,  # noqa: E712
        "unencrypted": Device.encrypted == False,  # noqa: E712
        "stale": Device.last_alive_at < utcnow() - timedelta(days=stale_days),
    }


def _security_score(stale_days: int):
    """A number that grows with the device's security problems (0: none known)."""
    score = None
    for name, cond in _security_conditions(stale_days).items():
        term = Case(None, [(cond, SECURITY_WEIGHTS[name])], 0)
        score = term if score is None else score + term
    return score


def _security_condition(problem: bool | str, stale_days: int):
    conditions = _security_conditions(stale_days)
    if problem is True:
        combined = None
        for cond in conditions.values():
            combined = cond if combined is None else (combined | cond)
        return combined
    if problem not in conditions:
        raise UsageError(f"unknown security problem '{problem}': choose from {', '.join(conditions)} (or any)")
    return conditions[problem]


def _ordered(query, f: DeviceFilter):
    key = f.sort if f.sort in SORT_KEYS else "computer_name"
    if key == "security":
        column = _security_score(f.stale_days)
    elif key in PAGE_ASSET_COLUMNS:
        column = NodeList((_asset_value(key),))  # a column expression (a bare subquery cannot be ordered)
    else:
        column = Device._meta.columns[key]
    # "not collected" last, written as (column IS NULL) first: the same order as NULLS LAST, and one the
    # index device_name_order serves, so the first page of a dense filter stops early instead of sorting
    last = NodeList((column, SQL("IS NULL")))
    if f.descending:
        return query.order_by(last, column.desc(), Device.id.desc())
    return query.order_by(last, column, Device.id)


def security_flags(device: Any, stale_days: int = 30, *, now: datetime | None = None) -> list[str]:
    """The device's security problems as short words; an item not collected is no problem."""
    flags = [state] if (state := _state_flag(device)) else []
    if getattr(device, "passcode_set", None) is False:
        flags.append("no passcode")
    if getattr(device, "jailbroken", None) is True:
        flags.append("jailbroken")
    if getattr(device, "encrypted", None) is False:
        flags.append("unencrypted")
    seen = getattr(device, "last_alive_at", None)
    if seen is not None and seen < (now or utcnow()) - timedelta(days=stale_days):
        flags.append(f"not seen {stale_days}d+")
    return flags


def _state_flag(device: Any) -> str | None:
    """The MDM's device state when it is not plain "managed": no profile, retired, wiped, lost..."""
    status = (getattr(device, "mdm_status", None) or "").strip().upper()
    if getattr(device, "mdm_managed", None) is False and status not in capabilities.NO_COMMAND_STATES:
        return "profile removed"
    if status and status != "ACTIVE":
        return f"{status.lower()} in MDM"
    return None


# -------------------------------------------------------------------------------------------- detail


@dataclass
class DeviceDetail:
    """One device: its items grouped as the spec groups them, only those its source can deliver."""

    device: Device
    title: str
    groups: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json (label -> value per group)."""
        return {"id": self.device.id, "title": self.title,
                "groups": {g: {label: value for label, value in items} for g, items in self.groups.items()}}


def get_device(device_id: int) -> Device:
    """The device with this id, or NotFoundError."""
    device = Device.get_or_none(Device.id == device_id)
    if device is None:
        raise NotFoundError(f"no device with id {device_id} (it may have been deleted)")
    return device


def device_detail(device_id: int) -> DeviceDetail:
    """Every item of a device, grouped: System, Computer, BIOS, OS, Network, Smart device, Memory,
    Hard disk, Status, Asset information and Collection."""
    device = get_device(device_id)
    os_class = _os_class(device.os_class)
    groups: dict[str, list[tuple[str, Any]]] = {"System": [
        ("Device Type", device.device_type), ("Management Type", device.management_type),
        ("Management Status", device.management_status), ("Device Status", device.device_status),
        ("Management target", device.managed), ("Uses a license", device.consumes_license),
    ]}
    for item in mapping.ITEMS:
        if OsClass(os_class) in item.available and item.field != "device_type":
            groups.setdefault(item.group, []).append((item.name, getattr(device, item.field)))
    groups["Asset information"] = [(label, value) for label, value in _asset_pairs(device)]
    groups["Collection"] = _collection_pairs(device)
    return DeviceDetail(device, device.computer_name or device.serial_number or device.mdm_device_id, groups)


def _asset_pairs(device: Device) -> list[tuple[str, Any]]:
    info = asset_info(device.id)
    labels = {"asset_number": "Asset number", "department": "Department", "location": "Location",
              "assigned_user": "Assigned user", "notes": "Notes"}
    return [(labels[k], info[k]) for k in ASSET_FIELDS]


def _collection_pairs(device: Device) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("Linkage", device.linkage_name), ("OS class", device.os_class), ("MDM device id", device.mdm_device_id),
        ("First seen", device.first_seen_at), ("Last changed by a collection", device.last_collected_at),
        ("Missing from MDM since", device.missing_since),
    ]
    if device.duplicate_of:
        other = Device.get_or_none(Device.id == device.duplicate_of)
        where = f"device {device.duplicate_of}" + (f" of {other.linkage_name}" if other else " (deleted)")
        pairs.append(("Also seen as", where))
    if device.orphaned:
        pairs.append(("Linkage removed", True))
    return pairs


def software_of(device_id: int, text: str | None = None, offset: int = 0, limit: int = 200) -> tuple[int, list[Software]]:
    """(how many items match, one page of them by name) of a device's software."""
    query = Software.select().where(Software.device == device_id)
    if text and text.strip():
        t = text.strip().lower()
        query = query.where(fn.LOWER(Software.name).contains(t) | fn.LOWER(Software.vendor).contains(t)
                            | fn.LOWER(Software.version).contains(t))
    total = query.count()
    if limit <= 0:
        return total, []
    return total, list(query.order_by(fn.LOWER(Software.name), Software.version, Software.id)
                       .offset(max(offset, 0)).limit(limit))


def history_of(device_id: int, limit: int = 500) -> list[DeviceHistory]:
    """The field changes collections recorded for a device, newest first."""
    return list(DeviceHistory.select().where(DeviceHistory.device == device_id)
                .order_by(DeviceHistory.at.desc(), DeviceHistory.id.desc()).limit(limit))


# ------------------------------------------------------------------------------------------ licenses


@dataclass
class LicenseRow:
    """License use of one linkage."""

    linkage: str
    system: str
    managed: int  # devices that are management targets
    licenses: int  # of those, the ones that use a license (not Intune)
    missing: int  # of the licensed ones, missing from their MDM (still counted until deleted)


@dataclass
class LicenseUsage:
    """License use per linkage and in total."""

    rows: list[LicenseRow]

    @property
    def managed(self) -> int:
        return sum(r.managed for r in self.rows)

    @property
    def licenses(self) -> int:
        return sum(r.licenses for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {"linkages": [r.__dict__ for r in self.rows], "managed": self.managed, "licenses": self.licenses}


def licenses(ctx: Context | None = None) -> LicenseUsage:
    """One license per managed smart device; devices managed through Intune use none.

    A device missing from its MDM keeps its license until its information is deleted.
    """
    licensed = fn.SUM(Case(None, [(Device.consumes_license == True, 1)], 0))  # noqa: E712
    missing = fn.SUM(Case(None, [((Device.consumes_license == True) & Device.missing_since.is_null(False), 1)],  # noqa: E712
                          0))
    query = (Device.select(Device.linkage_name, Linkage.system, fn.COUNT(Device.id), licensed, missing)
             .join(Linkage, JOIN.LEFT_OUTER, on=(Device.linkage == Linkage.id))
             .where(Device.managed == True)  # noqa: E712
             .group_by(Device.linkage_name, Linkage.system).order_by(Device.linkage_name))
    rows = [LicenseRow(name or "(no linkage)", system or "removed", int(n), int(lic or 0), int(miss or 0))
            for name, system, n, lic, miss in query.tuples()]
    return LicenseUsage(rows)


# ----------------------------------------------------------------------------- asset info, deletion


def asset_info(device_id: int) -> dict[str, str | None]:
    """The asset information the admin keeps for a device (None for fields never set)."""
    row = AssetInfo.get_or_none(AssetInfo.device == device_id)
    return {k: getattr(row, k) if row else None for k in ASSET_FIELDS}


def set_asset_info(ctx: Context, device_id: int, **fields: str | None) -> dict[str, str | None]:
    """Save asset information (kept across collections); audited as a settings change."""
    if ctx.read_only:
        raise ActionRefused("read-only mode: asset information cannot be changed")
    roles.require(ctx, roles.Permission.ASSET_EDIT, target=f"asset information of device {device_id}")
    unknown = set(fields) - set(ASSET_FIELDS)
    if unknown:
        raise UsageError(f"unknown asset field(s) {', '.join(sorted(unknown))}: use {', '.join(ASSET_FIELDS)}")
    cleaned = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in fields.items()}
    for key, value in cleaned.items():  # typed by an admin: refused, not silently changed (lines in notes are fine)
        if value is not None and printable(value.replace("\n", "").replace("\t", "")) != value.replace(
                "\n", "").replace("\t", ""):
            raise UsageError(f"{key.replace('_', ' ')}: a control character ({printable(value)}) is not allowed; "
                             "retype the value")
    with ctx.db.atomic():
        device = get_device(device_id)
        before = asset_info(device_id)
        changed = {k: v for k, v in cleaned.items() if before[k] != v}
        if changed:
            AssetInfo.insert(device=device_id, updated_at=utcnow(), **{**before, **changed}).on_conflict(
                conflict_target=[AssetInfo.device], update={**changed, "updated_at": utcnow()}).execute()
            audit.record(ctx, category="settings", action="asset_info.edit", outcome="succeeded", device=device,
                         options={k: {"old": before[k], "new": v} for k, v in changed.items()},
                         message=f"asset information changed: {', '.join(sorted(changed))}")
    return asset_info(device_id)


def delete_devices(ctx: Context, device_ids: Sequence[int]) -> int:
    """Delete devices' information (software, history, asset info) — explicit and audited per device.

    A device still in its MDM comes back at the next collection as a new device.
    """
    if ctx.read_only:
        raise ActionRefused("read-only mode: device information cannot be deleted")
    roles.require(ctx, roles.Permission.DELETE, target=f"deleting {len(device_ids)} device(s)")
    wanted = list(dict.fromkeys(int(i) for i in device_ids))
    deleted = 0
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        with ctx.db.atomic():
            devices = list(Device.select().where(Device.id.in_(chunk)))
            found = [d.id for d in devices]
            software.remove_ids(ctx.db, found)
            Software.delete().where(Software.device.in_(found or [-1])).execute()
            software.settle(ctx.db)
            DeviceHistory.delete().where(DeviceHistory.device.in_(found or [-1])).execute()
            AssetInfo.delete().where(AssetInfo.device.in_(found or [-1])).execute()
            DeviceAction.update(device=None).where(DeviceAction.device.in_(found or [-1])).execute()
            Device.delete().where(Device.id.in_(found or [-1])).execute()
            for d in devices:
                audit.record(ctx, category="deletion", action="device.delete", outcome="succeeded",
                             linkage_name=d.linkage_name, device_id=d.id, device_name=d.computer_name,
                             device_serial=d.serial_number, mdm_device_id=d.mdm_device_id,
                             message="device information deleted"
                                     + (" (still in its MDM: it returns at the next collection)"
                                        if d.missing_since is None and not d.orphaned else ""))
            deleted += len(devices)
    if wanted and not deleted:
        raise NotFoundError(f"no device with id {', '.join(map(str, wanted[:20]))} (already deleted?)")
    return deleted


def export_row(device: Device, asset: AssetInfo | None) -> dict[str, Any]:
    """One device as an export line: every item, the set values, asset information; no secrets."""
    row = {c: getattr(device, c) for c in EXPORT_COLUMNS}
    for k in ASSET_FIELDS:
        row[f"asset_{k}"] = getattr(asset, k) if asset is not None else None
    return row


EXPORT_COLUMNS = (
    "id", "linkage_name", "mdm_device_id", "os_class", "device_type", "computer_name", "host_name", "manufacturer",
    "model", "serial_number", "bios_serial_number", "os_name", "os_version", "network_adapter_name", "mac_address",
    "wifi_mac", "ethernet_mac", "imei", "udid", "imsi", "iccid", "phone_number", "email", "carrier", "passcode_set",
    "ram_total_bytes", "ram_free_bytes", "storage_total_bytes", "storage_free_bytes", "sd_total_bytes",
    "sd_free_bytes", "user_name", "jailbroken", "encrypted", "compliance", "mdm_managed", "mdm_status",
    "last_alive_at", "management_type", "management_status", "device_status", "managed", "consumes_license", "first_seen_at",
    "last_collected_at", "missing_since", "duplicate_of", "orphaned",
)
