"""The console's only door to the services: database work runs in the storage's workers (``in_db``).

Screens run these in ``thread=True`` workers; nothing here renders, and nothing here holds a rule:
the services do. Kept in one module so a screen reads as keys -> actions -> these calls -> messages.
No module of ``screens/`` or ``widgets/`` but this one imports ``mdmtui.services`` (an import-linter
contract in pyproject.toml). What a call returns is typed by the shapes of ``screens/rows.py``, not by
what the services build (ORM rows or records); the types a screen names (``Context``, ``Permission``,
``DeviceFilter`` …) are re-exported here. The heavier services are imported on first use, so the console
starts quickly; ``DeviceFilter``, ``TitleFilter`` and ``LinkageInput`` too (``__getattr__`` below).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from mdmtui.records import Action, CollectionSummary, Progress, WipeOptions
from mdmtui.screens.rows import (ActionRow, AuditRow, DeviceRow, EventRow, HistoryRow, RequestRow, RunRow,
                                 SoftwareRow, TitleRow, VersionRow)
from mdmtui.services.context import Context, Interrupter
from mdmtui.services.roles import Permission, PermissionDenied

if TYPE_CHECKING:
    import asyncio

    from mdmtui.recurrence import Schedule
    from mdmtui.services.control import DeviceOutcome
    from mdmtui.services.inventory import DeviceFilter, LicenseUsage
    from mdmtui.services.linkages import LinkageInput
    from mdmtui.services.overview import Overview
    from mdmtui.services.software import TitleFilter

__all__ = ["Context", "DeviceFilter", "LinkageInput", "Permission", "PermissionDenied", "TitleFilter"]

T = TypeVar("T")

_LAZY = {"DeviceFilter": "mdmtui.services.inventory", "TitleFilter": "mdmtui.services.software",
         "LinkageInput": "mdmtui.services.linkages"}


def __getattr__(name: str) -> Any:
    """The re-exported classes of the heavier services, imported when first named."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _service_row(row: Any) -> Any:
    """A row the console got from a service, handed back to one (the services take their own type)."""
    return row


def in_db(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` in one of the storage's workers and wait for it (from a screen's thread worker)."""
    return ctx.storage.call(fn, *args, **kwargs)


# ---------------------------------------------------------------------------------------------- devices


def device_filter(stale_days: int, **fields: Any) -> DeviceFilter:
    """A device list's filter (the inventory's ``DeviceFilter``)."""
    from mdmtui.services.inventory import DeviceFilter

    return DeviceFilter(stale_days=stale_days, **fields)


@dataclass
class DeviceSource:
    """The device table's rows: one ``DeviceFilter`` paged through the inventory service."""

    ctx: Context
    filter: DeviceFilter

    interrupter: Interrupter = field(default_factory=Interrupter, compare=False)

    def count(self) -> int:
        """Devices matching the filter (``cancel_count`` from another thread stops it at once)."""
        return in_db(self.ctx, self._count)

    def _count(self) -> int:
        from mdmtui.services import inventory

        with self.interrupter.watching(self.ctx.db):  # the worker's connection, stopped from any thread
            return inventory.count(self.filter)

    def cancel_count(self) -> None:
        """Stop a count still running, and any this source would start (a new keystroke made it stale)."""
        self.interrupter.interrupt()

    def page(self, offset: int, limit: int) -> Sequence[DeviceRow]:
        """One page of devices, in the filter's order."""
        from mdmtui.services import inventory

        return in_db(self.ctx, inventory.page, self.filter, offset, limit)

    def submit_page(self, offset: int, limit: int) -> Future[Sequence[DeviceRow]]:
        """The same page handed to the storage's workers, not waited for (the table's ``RowSource``)."""
        from mdmtui.services import inventory

        return self.ctx.storage.submit(inventory.page, self.filter, offset, limit)

    def with_filter(self, **changes: Any) -> DeviceSource:
        """The same source with some filter fields changed."""
        return DeviceSource(self.ctx, replace(self.filter, **changes))


def _software_of(ctx: Context, device_id: int, text: str | None, offset: int,
                 limit: int) -> tuple[int, Sequence[SoftwareRow]]:
    from mdmtui.services import inventory

    return in_db(ctx, inventory.software_of, device_id, text, offset, limit)


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
        total, _ = _software_of(self.ctx, self.device_id, self.text or None, 0, 0)
        self.total = total
        if not self.text:
            self.unfiltered_total = self.total
        elif self.unfiltered_total is None:
            self.unfiltered_total, _ = _software_of(self.ctx, self.device_id, None, 0, 0)
        return total

    def page(self, offset: int, limit: int) -> Sequence[SoftwareRow]:
        """One page of items."""
        _, items = _software_of(self.ctx, self.device_id, self.text or None, offset, limit)
        return items


# --------------------------------------------------------------------------------------------- software


def title_filter() -> TitleFilter:
    """The Software screen's filter as it opens (every title, by name)."""
    from mdmtui.services.software import TitleFilter

    return TitleFilter()


@dataclass
class TitleSource:
    """The Software screen's titles: one ``TitleFilter`` paged through the software service."""

    ctx: Context
    filter: TitleFilter

    def count(self) -> int:
        """Titles matching the filter."""
        from mdmtui.services import software

        return in_db(self.ctx, software.count_titles, self.filter)

    def page(self, offset: int, limit: int) -> Sequence[TitleRow]:
        """One page of titles, in the filter's order."""
        from mdmtui.services import software

        return in_db(self.ctx, software.titles, self.filter, offset, limit)

    def submit_page(self, offset: int, limit: int) -> Future[Sequence[TitleRow]]:
        """The same page handed to the storage's workers, not waited for (the table's ``RowSource``)."""
        from mdmtui.services import software

        return self.ctx.storage.submit(software.titles, self.filter, offset, limit)

    def with_filter(self, **changes: Any) -> TitleSource:
        """The same source with some filter fields changed."""
        return TitleSource(self.ctx, replace(self.filter, **changes))


@dataclass
class VersionSource:
    """The versions of one title (a few rows: read whole, once)."""

    ctx: Context
    name: str
    rows: Sequence[VersionRow] | None = None

    def count(self) -> int:
        """How many versions."""
        return len(self._rows())

    def page(self, offset: int, limit: int) -> Sequence[VersionRow]:
        """Versions ``offset`` .. ``offset + limit``, the most widespread first."""
        return self._rows()[offset:offset + limit]

    def _rows(self) -> Sequence[VersionRow]:
        if self.rows is None:
            from mdmtui.services import software

            self.rows = in_db(self.ctx, software.versions, self.name)
        return self.rows


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking service call off the event loop (from an async worker)."""
    import asyncio

    return await asyncio.to_thread(fn, *args)


def security_problems(ctx: Context) -> list[tuple[str, str]]:
    """The security problems the quick filter offers: (DeviceFilter.security_problem value, label)."""
    from mdmtui.services import inventory

    labels = dict(inventory.SECURITY_PROBLEMS)
    labels["stale"] = f"not seen for {ctx.settings.stale_days} days or more"
    return list(labels.items())


def security_flags(ctx: Context, row: DeviceRow) -> list[str]:
    """The security problems of a device row as short words (no database access)."""
    from mdmtui.services import inventory

    return list(inventory.security_flags(row, stale_days=ctx.settings.stale_days))


@dataclass
class Detail:
    """Everything the detail pane shows about one device."""

    title: str
    groups: dict[str, list[tuple[str, Any]]]
    history: Sequence[HistoryRow]
    audit: Sequence[AuditRow]
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
    from mdmtui.services import audit, inventory

    def load() -> Detail:
        detail = inventory.device_detail(device_id)
        history = inventory.history_of(device_id, limit=200)
        entries = audit.query(ctx, device=device_id, limit=200)
        flags = inventory.security_flags(detail.device, stale_days=ctx.settings.stale_days)
        return Detail(detail.title, pane_groups(detail.groups), history, entries, flags)
    return in_db(ctx, load)


def device_name(row: DeviceRow) -> str:
    """The name shown and typed to confirm a wipe (the lookup service's rule; no database access)."""
    from mdmtui.services import lookup

    return lookup.confirm_label(_service_row(row))


def describe_device(row: DeviceRow) -> str:
    """A device in one line, as confirmations list it (the lookup service's words)."""
    from mdmtui.services import lookup

    return lookup.describe(_service_row(row))


def linkage_names(ctx: Context) -> list[str]:
    """The names of every linkage."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: [lk.name for lk in linkages.list_linkages(ctx)])


def delete_devices(ctx: Context, ids: list[int]) -> int:
    """Delete the devices' information (audited by the service); how many went."""
    from mdmtui.services import inventory

    return in_db(ctx, inventory.delete_devices, ctx, ids)


def asset_info(ctx: Context, device_id: int) -> dict[str, str | None]:
    """The device's asset information fields."""
    from mdmtui.services import inventory

    return in_db(ctx, inventory.asset_info, device_id)


def set_asset_info(ctx: Context, device_id: int, fields: dict[str, str | None]) -> None:
    """Save asset information (kept across collections)."""
    from mdmtui.services import inventory

    in_db(ctx, inventory.set_asset_info, ctx, device_id, **fields)


def pending_action_count(ctx: Context) -> int:
    """Actions not yet final over the fleet (the header's figure)."""
    from mdmtui.services import inventory

    return in_db(ctx, inventory.pending_action_count)


# ---------------------------------------------------------------------------------------------- actions


def action_label(action: Action) -> str:
    """The control service's word for an action ("passcode reset")."""
    from mdmtui.services import control

    return control.ACTION_LABELS[action]


def wipe_option_labels() -> dict[str, str]:
    """Intune's wipe options (keyword -> words), as the console's wipe dialog offers them."""
    from mdmtui.services import control

    return dict(control.WIPE_OPTION_LABELS)


def refusal_for(ctx: Context, row: DeviceRow, action: Action) -> str | None:
    """Why ``action`` cannot go to this device (the capability rules; no database access), or None."""
    from mdmtui.services import control

    return control.refusal_for(ctx, _service_row(row), action)


def record_refusal(ctx: Context, ids: list[int], action: Action, reason: str) -> None:
    """Record (and audit) that ``action`` was refused for these devices before anything was sent."""
    from mdmtui.services import control

    in_db(ctx, control.record_refusal, ctx, ids, action, None, reason)


async def act(ctx: Context, device_ids: list[int], action: Action, *, options: WipeOptions | None = None,
              cancel: asyncio.Event | None = None) -> list[DeviceOutcome]:
    """Send ``action`` to the devices (the control service runs its database work off the loop)."""
    from mdmtui.services import control

    kwargs: dict[str, Any] = {"cancel": cancel}
    if options is not None:
        kwargs["options"] = options
    return list(await control.act(ctx, device_ids, action, **kwargs))


async def follow_up_pending(ctx: Context, device_ids: list[int] | None = None) -> list[DeviceOutcome]:
    """Ask the MDMs about pending (and unknown) actions and record what they say."""
    from mdmtui.services import control

    return list(await control.follow_up_pending(ctx, device_ids))


def outcomes_line(outcomes: Sequence[DeviceOutcome]) -> str:
    """Outcomes counted in one line ("2 succeeded, 1 failed")."""
    from mdmtui.services import control

    return control.summary_line(outcomes)


NOT_FINAL = ("pending", "unknown")  # actions whose outcome the MDM has not settled yet (as inventory.NOT_FINAL)


def pending_actions(ctx: Context, device_id: int | None = None, limit: int = 1000) -> list[ActionRow]:
    """Actions not yet final (pending, unknown), newest first; of one device or of the whole fleet."""
    from mdmtui.services import control

    ids = [device_id] if device_id is not None else None
    rows = in_db(ctx, control.list_actions, ctx, device_ids=ids, outcomes=NOT_FINAL, limit=limit)
    return cast("list[ActionRow]", rows)  # a Peewee row's ``device_id`` (of its foreign key) is not seen by mypy


# ------------------------------------------------------------------------------------------------ roles


def role_refusal(ctx: Context, permission: Permission) -> str | None:
    """Why the OS user's role forbids ``permission``, or None (no database access)."""
    from mdmtui.services import roles

    return roles.refusal(ctx, permission)


def two_person(ctx: Context, action: Action) -> bool:
    """Whether ``action`` needs a second admin's approval (the two-person rule)."""
    from mdmtui.services import roles

    return roles.two_person(ctx, action.value)


def require(ctx: Context, permission: Permission, *, target: str) -> None:
    """``PermissionDenied`` (audited by the service) unless the OS user's role allows ``permission``."""
    from mdmtui.services import roles

    in_db(ctx, roles.require, ctx, permission, target=target)


def audit_role_refusal(ctx: Context, permission: Permission) -> None:
    """Audit that the OS user's role refused ``permission`` (the services' own check and record)."""
    from mdmtui.services import roles

    def deny() -> None:
        try:
            roles.require(ctx, permission, target="in the console")
        except roles.PermissionDenied:
            pass

    in_db(ctx, deny)


# --------------------------------------------------------------------------------------------- requests


def max_justification() -> int:
    """The longest justification a two-person request takes."""
    from mdmtui.services import approvals

    return approvals.MAX_JUSTIFICATION


def pending_request_count(ctx: Context) -> int:
    """Two-person requests waiting for a second admin."""
    from mdmtui.services import approvals

    return in_db(ctx, approvals.pending_count, ctx)


def request_approval(ctx: Context, device_ids: list[int], action: Action, justification: str,
                     options: WipeOptions | None = None) -> list[RequestRow]:
    """Store a request per device for another admin (the two-person rule); nothing is sent."""
    from mdmtui.services import approvals

    return list(in_db(ctx, approvals.create, ctx, device_ids, action, justification, options))


def requests(ctx: Context) -> list[tuple[RequestRow, str | None]]:
    """Every request, with what sending it answered (None: not sent)."""
    from mdmtui.services import approvals

    return in_db(ctx, lambda: [(r, approvals.send_outcome(r)) for r in
                               approvals.list_requests(ctx, pending_only=False)])


def describe_request(row: RequestRow) -> str:
    """A request in one line (the approvals service's words)."""
    from mdmtui.services import approvals

    return approvals.describe(_service_row(row))


def request_changes(row: RequestRow) -> list[str]:
    """What changed on the request's device since it was asked (re-enrolled, new serial …)."""
    from mdmtui.services import approvals

    return approvals.device_changes(_service_row(row))


async def approve(ctx: Context, request_id: int) -> list[DeviceOutcome]:
    """Approve another admin's request and send its action; what the MDM answered, device by device."""
    from mdmtui.services import approvals

    done = await approvals.approve(ctx, request_id)
    return list(done.outcomes)


def reject(ctx: Context, request_id: int, reason: str | None) -> None:
    """Reject a request; nothing is sent."""
    from mdmtui.services import approvals

    in_db(ctx, approvals.reject, ctx, request_id, reason)


# ------------------------------------------------------------------------------------------- collection


async def collect(ctx: Context, names: list[str] | None, *, progress: Callable[[Progress], None],
                  cancel: asyncio.Event, changed_only: bool = False) -> list[CollectionSummary]:
    """Collect one linkage, several or (None) every enabled one, with progress; the summaries."""
    from mdmtui.services import collection

    if names and len(names) == 1:
        return [await collection.collect(ctx, names[0], trigger="immediate", progress=progress, cancel=cancel,
                                         changed_only=changed_only)]
    return list(await collection.collect_many(ctx, names, trigger="immediate", progress=progress, cancel=cancel,
                                              changed_only=changed_only))


# --------------------------------------------------------------------------------------------- linkages


@dataclass
class LinkageRow:
    """One line of the linkages list."""

    name: str
    system: str
    server: str
    enabled: bool
    last: RunRow | None
    next_run: datetime | None
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


def save_linkage(ctx: Context, original: str | None, data: dict[str, Any],
                 changed_schedule: Schedule | None = None) -> str:
    """Create (original None) or update a linkage, then its changed-only schedule; returns its name."""
    from mdmtui.services import linkages, schedule

    def save() -> str:
        with ctx.db.atomic():  # the linkage and its changed-only schedule together, or neither
            name = (linkages.create(ctx, data) if original is None else linkages.update(ctx, original, **data)).name
            schedule.set_changed_schedule(ctx, name, changed_schedule)
        return name
    return in_db(ctx, save)


def remove_linkage(ctx: Context, name: str, devices: Literal["keep", "delete"], *,
                   properties_entry: bool = False) -> int:
    """Remove a linkage, keeping or deleting its devices (and, if asked, its sdm_import.properties entry)."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: linkages.remove(ctx, name, devices, properties_entry=properties_entry))


async def test_connection(ctx: Context, name: str) -> str:
    """Ask the linkage's MDM whether its settings work; what it answered."""
    from mdmtui.services import linkages

    return await linkages.test_connection(ctx, name)


def shown_systems() -> tuple[Any, ...]:
    """The systems a linkage can be made for, as the console lists them (their specs)."""
    from mdmtui.services import linkages

    return tuple(linkages.shown_systems())


def form_options() -> tuple[tuple[Any, frozenset[str]], ...]:
    """Every system option the linkage form shows, with the systems it applies to."""
    from mdmtui.services import linkages

    return tuple(linkages.form_options())


def sdm_linkage_names(ctx: Context) -> list[str]:
    """The names of the SDM linkages (sdm_import.properties must name one of them)."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: linkages.properties_linkage_names(ctx))


def parse_weekdays(text: str) -> list[int]:
    """Weekday words ("mon,wed") as the schedule service takes them (``UsageError`` naming a bad one)."""
    from mdmtui.services import schedule

    return schedule.parse_weekdays(text)


def build_schedule(*, start_at: datetime | str, interval: str, every: int = 1,
                   weekdays: list[int] | str | None = None, month_day: int | None = None) -> Schedule:
    """A schedule from the linkage form's fields (the schedule service's validation)."""
    from mdmtui.services import schedule

    return schedule.build_schedule(start_at=start_at, interval=interval, every=every, weekdays=weekdays,
                                   month_day=month_day)


def changed_schedule_from_text(start_at: str, interval: str, every: str) -> Schedule | None:
    """The changed-only schedule the form's three fields give (None: blank)."""
    from mdmtui.services import schedule

    return schedule.changed_schedule_from_text(start_at, interval, every)


def preview_runs(plan: Schedule | None, count: int = 3, *, now: datetime | None = None) -> list[datetime]:
    """The next ``count`` runs of a schedule."""
    from mdmtui.services import schedule

    return schedule.preview_runs(plan, count, now=now)


# ----------------------------------------------------------------------------------------- events, audit


def event_kind_label(kind: str) -> str:
    """The events service's words for a kind."""
    from mdmtui.services.events import KINDS

    return KINDS.get(kind, kind)


def unread_count(ctx: Context) -> int:
    """Events not yet read (the header's figure)."""
    from mdmtui.services import events

    return in_db(ctx, events.unread_count)


def recent_events(ctx: Context, limit: int = 500) -> list[EventRow]:
    """The newest events first."""
    from mdmtui.services import events

    return list(in_db(ctx, events.recent, limit))


def mark_events_read(ctx: Context) -> int:
    """Mark every event read."""
    from mdmtui.services import events

    return in_db(ctx, events.mark_read)


def audit_entries(ctx: Context, text: str | None = None, limit: int = 500) -> list[AuditRow]:
    """The newest audit entries first, optionally for one device (id, name, serial)."""
    from mdmtui.services import audit

    return list(in_db(ctx, lambda: audit.query(ctx, device=text or None, limit=limit)))


def licenses(ctx: Context) -> LicenseUsage:
    """License use per linkage and in total."""
    from mdmtui.services import inventory

    return in_db(ctx, inventory.licenses, ctx)


def overview(ctx: Context) -> Overview:
    """The figures of the Overview screen."""
    from mdmtui.services import overview as module

    return in_db(ctx, module.overview, ctx)


def device_label(ctx: Context, device_id: int) -> str:
    """The text that finds one device in the filter: its name, serial or MDM id."""
    from mdmtui.services import lookup

    return in_db(ctx, lambda: lookup.confirm_label(lookup.resolve(ctx, f"id:{device_id}")))


# ---------------------------------------------------------------------------------------------- exports


@dataclass
class Export:
    """Where an export went and how many devices it holds."""

    path: Path
    count: int


def export_devices(ctx: Context, device_filter: DeviceFilter, fmt: str, *, now: datetime | None = None) -> Export:
    """Write the devices of the current view (its filters and order) to ``<data dir>/exports/``."""
    from mdmtui.services import export

    return _export(ctx, "devices", fmt, lambda out: export.write_devices(out, device_filter, fmt), now)


def export_software(ctx: Context, title_filter: TitleFilter, fmt: str, *, now: datetime | None = None) -> Export:
    """Write the titles of the Software screen's view, a line per version, to ``<data dir>/exports/``."""
    from mdmtui.services import export

    return _export(ctx, "software", fmt, lambda out: export.write_software(out, title_filter, fmt), now)


def _export(ctx: Context, kind: str, fmt: str, write_to: Callable[[Any], int], now: datetime | None) -> Export:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = ctx.settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{stamp}.{fmt}"

    def write() -> int:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_to(out)
    return Export(path, in_db(ctx, write))


# -------------------------------------------------------------------------------------- describe, find


@dataclass
class Description:
    """Everything the describe view shows about one device."""

    detail: Detail
    pending: list[ActionRow]
    software: list[SoftwareRow]
    software_total: int


def describe(ctx: Context, device_id: int, software_text: str = "", software_limit: int = 500) -> Description:
    """One device in full: items, security problems, history, audit, pending actions and (filtered) software."""
    detail = device_detail(ctx, device_id)
    pending = pending_actions(ctx, device_id)
    total, software = _software_of(ctx, device_id, software_text or None, 0, software_limit)
    return Description(detail, pending, list(software), total)


MIN_FIND_TERM = 3  # shorter terms (":1", ":iP") find screens, not devices: almost every device matched


@dataclass
class Found:
    """The devices a term typed after ``:`` finds: those it names exactly (any identifier, user, asset
    number; at most ``limit``, of ``total``), then others whose searched text holds it."""

    exact: list[DeviceRow]
    total: int
    partial: list[DeviceRow]


def find_devices(ctx: Context, text: str, limit: int = 10) -> Found:
    """At most ``limit`` devices for the ``:`` prompt: exact matches first, then the list's text search
    (bounded: one LIMIT query each, never a row per device)."""
    from mdmtui.services import inventory, lookup

    text = text.strip()
    if len(text) < MIN_FIND_TERM:
        return Found([], 0, [])

    def load() -> Found:
        exact, total = lookup.find(ctx, text, limit)
        room = limit - len(exact)
        if room <= 0:
            return Found(list(exact), total, [])
        f = inventory.DeviceFilter(text=text, stale_days=ctx.settings.stale_days)
        seen = {d.id for d in exact}
        page: Sequence[DeviceRow] = inventory.page(f, 0, room + len(seen))
        return Found(list(exact), total, [d for d in page if d.id not in seen][:room])
    return in_db(ctx, load)


def find(ctx: Context, term: str, limit: int) -> tuple[list[DeviceRow], int]:
    """The devices ``term`` names (any identifier, its user or asset number), at most ``limit``, and how many
    there are."""
    from mdmtui.services import lookup

    devices, total = in_db(ctx, lookup.find, ctx, term, limit)
    return list(devices), total
