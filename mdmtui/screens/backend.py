"""The console's only door to the services: database work runs in the storage's workers (``in_db``).

Screens run these in ``thread=True`` workers; nothing here renders, and nothing here holds a rule:
the services do. Kept in one module so a screen reads as keys -> actions -> these calls -> messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from mdmtui.services.context import Context

T = TypeVar("T")


def in_db(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` in one of the storage's workers and wait for it (from a screen's thread worker)."""
    return ctx.storage.call(fn, *args, **kwargs)


def inventory():
    """The inventory service (imported late: it is the heaviest import)."""
    from mdmtui.services import inventory as module

    return module


@dataclass
class DeviceSource:
    """The device table's rows: one ``DeviceFilter`` paged through the inventory service."""

    ctx: Context
    filter: Any

    interrupter: Any = field(default_factory=lambda: inventory().Interrupter(), compare=False)

    def count(self) -> int:
        """Devices matching the filter (``cancel_count`` from another thread stops it at once)."""
        return in_db(self.ctx, self._count)

    def _count(self) -> int:
        with self.interrupter.watching(self.ctx.db):  # the worker's connection, stopped from any thread
            return inventory().count(self.filter)

    def cancel_count(self) -> None:
        """Stop a count still running, and any this source would start (a new keystroke made it stale)."""
        self.interrupter.interrupt()

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """One page of devices, in the filter's order."""
        return in_db(self.ctx, inventory().page, self.filter, offset, limit)

    def with_filter(self, **changes: Any) -> DeviceSource:
        """The same source with some filter fields changed."""
        return DeviceSource(self.ctx, replace(self.filter, **changes))


@dataclass
class SoftwareSource:
    """The software of one device, filtered by text, paged."""

    ctx: Context
    device_id: int
    text: str = ""
    total: int | None = None
    unfiltered_total: int | None = None

    def count(self) -> int:
        """Items matching the text."""
        self.total, _ = in_db(self.ctx, inventory().software_of, self.device_id, self.text or None, 0, 0)
        if not self.text:
            self.unfiltered_total = self.total
        elif self.unfiltered_total is None:
            self.unfiltered_total, _ = in_db(self.ctx, inventory().software_of, self.device_id, None, 0, 0)
        return self.total

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """One page of items."""
        _, items = in_db(self.ctx, inventory().software_of, self.device_id, self.text or None, offset, limit)
        return items


def software_service():
    """The fleet's software counts (services/software.py)."""
    from mdmtui.services import software as module

    return module


@dataclass
class TitleSource:
    """The Software screen's titles: one ``TitleFilter`` paged through the software service."""

    ctx: Context
    filter: Any

    def count(self) -> int:
        """Titles matching the filter."""
        return in_db(self.ctx, software_service().count_titles, self.filter)

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """One page of titles, in the filter's order."""
        return in_db(self.ctx, software_service().titles, self.filter, offset, limit)

    def with_filter(self, **changes: Any) -> TitleSource:
        """The same source with some filter fields changed."""
        return TitleSource(self.ctx, replace(self.filter, **changes))


@dataclass
class VersionSource:
    """The versions of one title (a few rows: read whole, once)."""

    ctx: Context
    name: str
    rows: list[Any] | None = None

    def count(self) -> int:
        """How many versions."""
        return len(self._rows())

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """Versions ``offset`` .. ``offset + limit``, the most widespread first."""
        return self._rows()[offset:offset + limit]

    def _rows(self) -> list[Any]:
        if self.rows is None:
            self.rows = in_db(self.ctx, software_service().versions, self.name)
        return self.rows


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking service call off the event loop (from an async worker)."""
    import asyncio

    return await asyncio.to_thread(fn, *args)


def security_problems(ctx: Context) -> list[tuple[str, str]]:
    """The security problems the quick filter offers: (DeviceFilter.security_problem value, label)."""
    labels = dict(inventory().SECURITY_PROBLEMS)
    labels["stale"] = f"not seen for {ctx.settings.stale_days} days or more"
    return list(labels.items())


def security_flags(ctx: Context, row: Any) -> list[str]:
    """The security problems of a device row as short words (no database access)."""
    return list(inventory().security_flags(row, stale_days=ctx.settings.stale_days))


@dataclass
class Detail:
    """Everything the detail pane shows about one device."""

    title: str
    groups: dict[str, list[tuple[str, Any]]]
    history: list[Any]
    audit: list[Any]
    flags: list[str]


# The detail pane's groups (the words) from the inventory's groups (the spec table's words).
PANE_GROUPS = {"System": "System", "Computer": "System", "BIOS": "System", "OS": "System",
               "Smart device": "Smart device", "Memory": "Memory and storage", "Hard disk": "Memory and storage",
               "Network": "Network", "Status": "Status", "Asset information": "Asset information",
               "Collection": "Collection"}
PANE_ORDER = ("System", "Smart device", "Memory and storage", "Network", "Status", "Asset information",
              "Collection")
_STORAGE_FIELDS = {"ram_free_bytes", "storage_free_bytes", "sd_total_bytes", "sd_free_bytes"}


def pane_groups(groups: dict[str, list[tuple[str, Any]]]) -> dict[str, list[tuple[str, Any]]]:
    """Regroup a device detail for the pane; byte counts shown as sizes, None kept (not collected)."""
    from mdmtui import mapping
    from mdmtui.formatting import size

    field_of = {item.name: item.field for item in mapping.ITEMS}
    out: dict[str, list[tuple[str, Any]]] = {name: [] for name in PANE_ORDER}
    for group, items in groups.items():
        for label, value in items:
            field = field_of.get(label, "")
            target = "Memory and storage" if field in _STORAGE_FIELDS else PANE_GROUPS.get(group, group)
            if field.endswith("_bytes") and isinstance(value, int):
                value = size(value)
            out.setdefault(target, []).append((label, value))
    return {name: items for name, items in out.items() if items}


def device_detail(ctx: Context, device_id: int) -> Detail:
    """The highlighted device's grouped items, security problems, history and audit entries."""
    from mdmtui.services import audit

    def load() -> Detail:
        inv = inventory()
        detail = inv.device_detail(device_id)
        history = inv.history_of(device_id, limit=200)
        entries = audit.query(ctx, device=device_id, limit=200)
        flags = inv.security_flags(detail.device, stale_days=ctx.settings.stale_days)
        return Detail(detail.title, pane_groups(detail.groups), history, entries, flags)
    return in_db(ctx, load)


def linkage_names(ctx: Context) -> list[str]:
    """The names of every linkage."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: [lk.name for lk in linkages.list_linkages(ctx)])


def delete_devices(ctx: Context, ids: list[int]) -> int:
    """Delete the devices' information (audited by the service); how many went."""
    return in_db(ctx, inventory().delete_devices, ctx, ids)


def record_refusal(ctx: Context, ids: list[int], action: Any, reason: str) -> None:
    """Record (and audit) that ``action`` was refused for these devices before anything was sent."""
    from mdmtui.services import control

    in_db(ctx, control.record_refusal, ctx, ids, action, None, reason)


def audit_role_refusal(ctx: Context, permission: Any) -> None:
    """Audit that the OS user's role refused ``permission`` (the services' own check and record)."""
    from mdmtui.services import roles

    def deny() -> None:
        try:
            roles.require(ctx, permission, target="in the console")
        except roles.PermissionDenied:
            pass

    in_db(ctx, deny)


def asset_info(ctx: Context, device_id: int) -> dict[str, str | None]:
    """The device's asset information fields."""
    return in_db(ctx, inventory().asset_info, device_id)


def set_asset_info(ctx: Context, device_id: int, fields: dict[str, str | None]) -> None:
    """Save asset information (kept across collections)."""
    in_db(ctx, inventory().set_asset_info, ctx, device_id, **fields)


@dataclass
class LinkageRow:
    """One line of the linkages list."""

    name: str
    system: str
    server: str
    enabled: bool
    last: Any  # schedule.RunInfo | None
    next_run: Any  # datetime | None
    schedule: str


def daemon_line(ctx: Context) -> str:
    """Whether the scheduler daemon runs (scheduled collections happen only then)."""
    from mdmtui.services import schedule
    from mdmtui.formatting import local_time

    status = in_db(ctx, schedule.daemon_status, ctx)
    if status.running:
        return (f"scheduler daemon: running on {status.host} (pid {status.pid}), "
                f"last heartbeat {local_time(status.heartbeat_at, seconds=True)}")
    if status.heartbeat_at is not None:
        return (f"scheduler daemon: NOT running (last seen {local_time(status.heartbeat_at)}): "
                "scheduled collections wait until `mdmtui daemon` runs")
    return "scheduler daemon: not running — scheduled collections need `mdmtui daemon`"


def linkage_rows(ctx: Context) -> list[LinkageRow]:
    """Every linkage with its last collection (and outcome) and next scheduled one."""
    from mdmtui import recurrence
    from mdmtui.errors import ConfigurationError
    from mdmtui.services import linkages, schedule

    def load() -> list[LinkageRow]:
        rows = []
        for lk in linkages.list_linkages(ctx):
            try:
                plan = schedule.schedule_of(lk)
                upcoming = schedule.next_runs_for(lk, 1)
                described = recurrence.describe(plan) if plan else "none"
            except ConfigurationError as exc:
                upcoming, described = [], f"damaged: {exc}"
            rows.append(LinkageRow(lk.name, lk.system, lk.server_url, lk.enabled, schedule.last_run(lk).any,
                                   upcoming[0] if upcoming else None, described))
        return rows
    return in_db(ctx, load)


def linkage_settings(ctx: Context, name: str) -> dict[str, Any]:
    """A linkage's settings as the edit form (and ``linkages.update``) take them; no secret in them. The
    changed-only schedule comes along under ``changed_schedule`` (a Schedule or None)."""
    from mdmtui.services import linkages, schedule

    def read() -> dict[str, Any]:
        linkage = linkages.get(ctx, name)
        return {**linkages.editable_settings(linkage), "changed_schedule": schedule.changed_schedule_of(linkage)}
    return in_db(ctx, read)


def save_linkage(ctx: Context, original: str | None, data: dict[str, Any], changed_schedule: Any = None) -> str:
    """Create (original None) or update a linkage, then its changed-only schedule; returns its name."""
    from mdmtui.services import linkages, schedule

    def save() -> str:
        with ctx.db.atomic():  # the linkage and its changed-only schedule together, or neither
            name = (linkages.create(ctx, data) if original is None else linkages.update(ctx, original, **data)).name
            schedule.set_changed_schedule(ctx, name, changed_schedule)
        return name
    return in_db(ctx, save)


def remove_linkage(ctx: Context, name: str, devices: str, *, properties_entry: bool = False) -> int:
    """Remove a linkage, keeping or deleting its devices (and, if asked, its sdm_import.properties entry)."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: linkages.remove(ctx, name, devices, properties_entry=properties_entry))


def sdm_linkage_names(ctx: Context) -> list[str]:
    """The names of the SDM linkages (sdm_import.properties must name one of them)."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: [lk.name for lk in linkages.list_linkages(ctx) if lk.system == "sdm"])


def recent_events(ctx: Context, limit: int = 500) -> list[Any]:
    """The newest events first."""
    from mdmtui.services import events

    return in_db(ctx, events.recent, limit)


def mark_events_read(ctx: Context) -> int:
    """Mark every event read."""
    from mdmtui.services import events

    return in_db(ctx, events.mark_read)


def audit_entries(ctx: Context, text: str | None = None, limit: int = 500) -> list[Any]:
    """The newest audit entries first, optionally for one device (id, name, serial)."""
    from mdmtui.services import audit

    return in_db(ctx, lambda: audit.query(ctx, device=text or None, limit=limit))


def licenses(ctx: Context) -> Any:
    """License use per linkage and in total."""
    return in_db(ctx, inventory().licenses, ctx)


def overview(ctx: Context) -> Any:
    """The figures of the Overview screen."""
    from mdmtui.services import overview as module

    return in_db(ctx, module.overview, ctx)


def device_label(ctx: Context, device_id: int) -> str:
    """The text that finds one device in the filter: its name, serial or MDM id."""
    from mdmtui.services import lookup

    return in_db(ctx, lambda: lookup.confirm_label(lookup.resolve(ctx, f"id:{device_id}")))


@dataclass
class Export:
    """Where an export went and how many devices it holds."""

    path: Any
    count: int


def export_devices(ctx: Context, device_filter: Any, fmt: str, *, now: Any = None) -> Export:
    """Write the devices of the current view (its filters and order) to ``<data dir>/exports/``."""
    from mdmtui.services import export

    return _export(ctx, "devices", fmt, lambda out: export.write_devices(out, device_filter, fmt), now)


def export_software(ctx: Context, title_filter: Any, fmt: str, *, now: Any = None) -> Export:
    """Write the titles of the Software screen's view, a line per version, to ``<data dir>/exports/``."""
    from mdmtui.services import export

    return _export(ctx, "software", fmt, lambda out: export.write_software(out, title_filter, fmt), now)


def _export(ctx: Context, kind: str, fmt: str, write_to: Callable[[Any], int], now: Any) -> Export:
    from datetime import datetime

    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = ctx.settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{stamp}.{fmt}"

    def write() -> int:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_to(out)
    return Export(path, in_db(ctx, write))


NOT_FINAL = ("pending", "unknown")  # actions whose outcome the MDM has not settled yet (as inventory.NOT_FINAL)


def pending_actions(ctx: Context, device_id: int | None = None, limit: int = 1000) -> list[Any]:
    """Actions not yet final (pending, unknown), newest first; of one device or of the whole fleet."""
    from mdmtui.services import control

    ids = [device_id] if device_id is not None else None
    return in_db(ctx, control.list_actions, ctx, device_ids=ids, outcomes=NOT_FINAL, limit=limit)


@dataclass
class Description:
    """Everything the describe view shows about one device."""

    detail: Detail
    pending: list[Any]
    software: list[Any]
    software_total: int


def describe(ctx: Context, device_id: int, software_text: str = "", software_limit: int = 500) -> Description:
    """One device in full: items, security problems, history, audit, pending actions and (filtered) software."""
    detail = device_detail(ctx, device_id)
    pending = pending_actions(ctx, device_id)
    total, software = in_db(ctx, inventory().software_of, device_id, software_text or None, 0, software_limit)
    return Description(detail, pending, list(software), total)


MIN_FIND_TERM = 3  # shorter terms (":1", ":iP") find screens, not devices: almost every device matched


@dataclass
class Found:
    """The devices a term typed after ``:`` finds: those it names exactly (any identifier, user, asset
    number; at most ``limit``, of ``total``), then others whose searched text holds it."""

    exact: list[Any]
    total: int
    partial: list[Any]


def find_devices(ctx: Context, text: str, limit: int = 10) -> Found:
    """At most ``limit`` devices for the ``:`` prompt: exact matches first, then the list's text search
    (bounded: one LIMIT query each, never a row per device)."""
    from mdmtui.services import lookup

    text = text.strip()
    if len(text) < MIN_FIND_TERM:
        return Found([], 0, [])

    def load() -> Found:
        exact, total = lookup.find(ctx, text, limit)
        room = limit - len(exact)
        if room <= 0:
            return Found(exact, total, [])
        inv = inventory()
        f = inv.DeviceFilter(text=text, stale_days=ctx.settings.stale_days)
        seen = {d.id for d in exact}
        partial = [d for d in inv.page(f, 0, room + len(seen)) if d.id not in seen][:room]
        return Found(exact, total, partial)
    return in_db(ctx, load)


def lookup():
    """The lookup service (``find`` runs through ``in_db`` in a worker)."""
    from mdmtui.services import lookup as module

    return module
