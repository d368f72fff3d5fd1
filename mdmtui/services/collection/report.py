"""What a collection run tells: its summary line, its audit counts, its events, its warnings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdmtui.records import CollectionSummary
from mdmtui.services import events
from mdmtui.storage import storable
from mdmtui.storage.runs import RunCounts

log = logging.getLogger("mdmtui.services.collection")

# Per-kind events beyond this many in one run become one summary event (a first collection of
# 100,000 devices must not bury the events view).
EVENT_DETAIL_LIMIT = 20
# Values adjusted to fit the database are named one by one up to this many per run, then counted.
ADJUSTMENT_DETAIL_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Event:
    """An event a run will emit when it applies."""

    kind: str
    message: str
    device_id: int | None = None


@dataclass(slots=True)
class EventLog:
    """The events of a run, kept until the apply emits them (a run that does not apply emits none)."""

    by_kind: dict[str, list[Event]] = field(default_factory=dict)

    def add(self, event: Event) -> None:
        """Keep one event."""
        self.by_kind.setdefault(event.kind, []).append(event)

    def emit(self, linkage_name: str) -> None:
        """Emit them (in the apply's transaction); beyond ``EVENT_DETAIL_LIMIT`` of a kind, one summary event."""
        for kind, items in self.by_kind.items():
            if len(items) > EVENT_DETAIL_LIMIT:
                events.emit(kind, f"{len(items):,} × {events.KINDS[kind].lower()} in {linkage_name}",
                            linkage_name=linkage_name)
                continue
            for event in items:
                events.emit(kind, event.message, linkage_name=linkage_name, device_id=event.device_id)


@dataclass(slots=True)
class Adjustments:
    """Values adjusted to fit the database: the first few by name, the rest counted."""

    shown: list[storable.Adjustment] = field(default_factory=list)
    count: int = 0

    def note(self, linkage_name: str, adjustment: storable.Adjustment) -> None:
        """Count one adjustment (and log the first few)."""
        self.count += 1
        if len(self.shown) < ADJUSTMENT_DETAIL_LIMIT:
            self.shown.append(adjustment)
            log.warning("collection of %s: %s", linkage_name, adjustment)

    def warnings(self) -> list[str]:
        """The warnings they give the run."""
        shown = [str(a) for a in self.shown]
        if self.count > len(shown):
            shown.append(f"and {self.count - len(shown):,} more values adjusted to fit the database")
        return shown


def label(row: Mapping[str, Any]) -> str:
    """A device as an event names it."""
    name = row.get("computer_name") or row.get("serial_number") or row.get("mdm_device_id") or f"id {row.get('id')}"
    return f"'{name}'"


def counts(s: CollectionSummary) -> dict[str, Any]:
    """The summary's counts, as the audit log records them."""
    return {"new": s.new, "changed": s.changed, "unchanged": s.unchanged, "missing": s.missing,
            "returned": s.returned, "software_items": s.software_items, "pages": s.pages,
            "devices_seen": s.devices_seen, "rechecked": s.rechecked, "duration_s": round(s.duration_s or 0.0, 3)}


def run_counts(s: CollectionSummary) -> RunCounts:
    """The summary's counts, as the run's row stores them."""
    return RunCounts(new=s.new, changed=s.changed, unchanged=s.unchanged, missing=s.missing, returned=s.returned,
                     software_items=s.software_items, pages=s.pages, devices_seen=s.devices_seen,
                     rechecked=s.rechecked)


def _rechecked(s: CollectionSummary) -> str:
    """The re-check part of the summary line, e.g. " (12 absent re-checked: 10 confirmed gone)"."""
    if not s.rechecked:
        return ""
    return f" ({s.rechecked:,} absent re-checked: {s.missing:,} confirmed gone)"


def describe(s: CollectionSummary) -> str:
    """One line: what a run did (or why it did not)."""
    if s.status != "succeeded":
        return f"{s.status}: {s.reason}" if s.reason else s.status
    took = f" in {s.duration_s:.1f} s" if s.duration_s is not None else ""
    line = (f"{s.devices_seen:,} devices{took}: {s.new:,} new, {s.changed:,} changed, {s.unchanged:,} unchanged, "
            f"{s.missing:,} missing{_rechecked(s)}, {s.returned:,} returned; {s.software_items:,} software items "
            "written")
    return f"{line} ({s.reason})" if s.reason else line  # warnings of a run that still succeeded
