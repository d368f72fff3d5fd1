"""The console's only door to the services: each call opens its own connection (worker threads).

Screens run these in ``thread=True`` workers; nothing here renders, and nothing here holds a rule:
the services do. Kept in one module so a screen reads as keys -> actions -> these calls -> messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from mdmtui.services.context import Context

T = TypeVar("T")


def in_db(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` inside a connection of this thread (Peewee connections are per thread)."""
    with ctx.db.connection_context():
        return fn(*args, **kwargs)


def inventory():
    """The inventory service (imported late: it is the heaviest import)."""
    from mdmtui.services import inventory as module

    return module


@dataclass
class DeviceSource:
    """The device table's rows: one ``DeviceFilter`` paged through the inventory service."""

    ctx: Context
    filter: Any

    def count(self) -> int:
        """Devices matching the filter."""
        return in_db(self.ctx, inventory().count, self.filter)

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

    def count(self) -> int:
        """Items matching the text."""
        result = in_db(self.ctx, inventory().software_of, self.device_id, self.text or None, 0, 0)
        self.total = _total_of(result)
        return self.total

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """One page of items."""
        result = in_db(self.ctx, inventory().software_of, self.device_id, self.text or None, offset, limit)
        return _items_of(result)


def _total_of(result: Any) -> int:
    """``software_of`` answers (total, items) or an object with them."""
    if isinstance(result, tuple):
        return int(result[0])
    return int(getattr(result, "total"))


def _items_of(result: Any) -> list[Any]:
    if isinstance(result, tuple):
        return list(result[1])
    return list(getattr(result, "items"))


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking service call off the event loop (from an async worker)."""
    import asyncio

    return await asyncio.to_thread(fn, *args)


# The security problems the quick filter offers: (DeviceFilter.security_problem value, label)
SECURITY_PROBLEMS = (
    ("passcode", "passcode not set"),
    ("jailbroken", "jailbroken / rooted"),
    ("unencrypted", "not encrypted"),
    ("stale", "not seen for a while"),
)


def security_flags(ctx: Context, row: Any) -> list[str]:
    """The security problems of a device row as short words (no database access)."""
    return list(inventory().security_flags(row, stale_days=ctx.settings.stale_days))


@dataclass
class Detail:
    """Everything the detail pane shows about one device."""

    title: str
    groups: Any
    history: list[Any]
    audit: list[Any]


def device_detail(ctx: Context, device_id: int) -> Detail:
    """The highlighted device's grouped items, history and audit entries."""
    from mdmtui.services import audit

    def load() -> Detail:
        inv = inventory()
        detail = inv.device_detail(device_id)
        history = list(inv.history_of(device_id))
        entries = list(audit.query(ctx, device=device_id, limit=200))
        return Detail(getattr(detail, "title", ""), getattr(detail, "groups", detail), history, entries)
    return in_db(ctx, load)


def linkage_names(ctx: Context) -> list[str]:
    """The names of every linkage."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: [lk.name for lk in linkages.list_linkages(ctx)])


def delete_devices(ctx: Context, ids: list[int]) -> int:
    """Delete the devices' information (audited by the service); how many went."""
    return in_db(ctx, inventory().delete_devices, ctx, ids)


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
    """A linkage's settings for the edit form (secrets masked, never their values)."""
    from mdmtui.services import linkages

    return in_db(ctx, lambda: linkages.describe(linkages.get(ctx, name)))


def save_linkage(ctx: Context, original: str | None, data: dict[str, Any]) -> str:
    """Create (original None) or update a linkage; returns its name."""
    from mdmtui.services import linkages

    if original is None:
        return in_db(ctx, linkages.create, ctx, data).name
    return in_db(ctx, lambda: linkages.update(ctx, original, **data)).name


def remove_linkage(ctx: Context, name: str, devices: str) -> int:
    """Remove a linkage, keeping or deleting its devices."""
    from mdmtui.services import linkages

    return in_db(ctx, linkages.remove, ctx, name, devices)


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


def device_label(ctx: Context, device_id: int) -> str:
    """The text that finds one device in the filter: its name, serial or MDM id."""
    from mdmtui.services import lookup

    return in_db(ctx, lambda: lookup.confirm_label(lookup.resolve(ctx, f"id:{device_id}")))
