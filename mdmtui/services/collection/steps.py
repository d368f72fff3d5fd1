"""The steps of one collection run on its writer thread: begin, stage each page, re-check, apply, finish.

A ``Run`` holds the run's state between the steps; each step reads storage (``storage.staging``,
``storage.runs``, ``storage.identity``), hands plain data to the diff and the identity rules, and stages
or applies what they decide. Every method runs on the run's one writer thread (``run.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from mdmtui.connectors.base import LinkageConfig
from mdmtui.errors import Busy, NotFoundError
from mdmtui.records import COLLECTED_FIELDS, STATUS_WARNING, CollectionSummary, DeviceRecord, SoftwareItem
from mdmtui.services import audit, events, locks
from mdmtui.services.collection import diff, identity
from mdmtui.services.collection.report import (
    EVENT_DETAIL_LIMIT, Adjustments, Event, EventLog, counts, describe, label, run_counts,
)
from mdmtui.services.context import Context
from mdmtui.storage import identity as stored_identity
from mdmtui.storage import runs, storable
from mdmtui.storage.staging import NEW, Stage

log = logging.getLogger("mdmtui.services.collection")

# a changed-only run lists from the last run's start on the MDM's clock minus this: a device whose check-in
# landed while that run listed, or whose time the MDM wrote a little late, is still listed
CHANGED_MARGIN = timedelta(minutes=10)


class HasId(Protocol):
    """A linkage as ``changed_since`` needs it (a record or a row)."""

    @property
    def id(self) -> int: ...


@dataclass
class Run:
    """One collection of one linkage; every method runs on the writer thread."""

    ctx: Context
    linkage: runs.LinkageRef
    trigger: str
    kind: str  # full | changed
    held: locks.HeldLock
    run_id: int
    summary: CollectionSummary
    now: datetime
    stage: Stage
    seen: set[int] = field(default_factory=set)  # stored devices this run saw
    gone: set[int] = field(default_factory=set)  # not seen, and confirmed gone by the MDM: these go missing
    new_ids: set[str] = field(default_factory=set)  # MDM ids staged as new
    events: EventLog = field(default_factory=EventLog)
    warnings: list[str] = field(default_factory=list)  # the run's own (the connector has its list)
    warning_cleared: int = 0
    adjustments: Adjustments = field(default_factory=Adjustments)
    heartbeat: locks.Heartbeat | None = None
    since: float | None = None  # a changed-only run's lower bound on the MDM's clock (epoch seconds)
    mdm_started_at: float | None = None  # the MDM's clock at this run's first listing answer

    @property
    def name(self) -> str:
        return self.linkage.name

    # --- start -------------------------------------------------------------------------------------
    @classmethod
    def begin(cls, ctx: Context, name: str, trigger: str, kind: str = "full") -> Run:
        """Lock the linkage, record the run as running and start its heartbeat."""
        linkage = runs.linkage_named(name)
        if linkage is None:
            raise NotFoundError(f"no linkage named '{name}' (see `mdmtui linkage list`)")
        held = locks.acquire(ctx, cast(Any, linkage))  # locks reads .id and .name only (typed as a row today)
        now = runs.utcnow()
        try:
            close_abandoned_runs(ctx, linkage)
            run_id = runs.start(linkage_id=linkage.id, linkage_name=linkage.name, trigger=trigger, kind=kind,
                                started_at=now, host=ctx.host, pid=os.getpid())
        except Exception:
            locks.release(held)
            raise
        run = cls(ctx, linkage, trigger, kind, held, run_id,
                  CollectionSummary(linkage.name, run_id=run_id, kind=kind, started_at=now), now,
                  Stage(ctx.db, linkage.id, linkage.name))
        if kind == "changed":
            run.since = changed_since(linkage)
            if run.since is None:
                run.warnings.append("no earlier successful run with the MDM's start time: every device was "
                                    "listed (a changed-only run still marks nothing missing)")
        run.heartbeat = locks.Heartbeat(ctx, held, locks.HEARTBEAT_S)
        run.heartbeat.start()
        return run

    def config(self) -> LinkageConfig:
        """The connector's configuration (secrets decrypted; SDM database from the properties)."""
        from mdmtui.services import linkages

        config = linkages.linkage_config(self.ctx, linkages.get(self.ctx, self.name))
        # facts no list shows (passcode state, software) are refreshed on this rolling period (churn.py)
        config.extra.setdefault("refresh_days", self.ctx.settings.refresh_days)
        # Intune's list or export route (connectors/intune.py; the other connectors ignore these)
        settings = self.ctx.settings
        config.extra.setdefault("intune_route", settings.intune_route)
        config.extra.setdefault("export_threshold", settings.intune_export_threshold)
        config.extra.setdefault("export_wait_s", settings.intune_export_wait_s)
        config.extra["changed_since"] = self.since
        return config

    def prepare(self) -> dict[str, str | None]:
        """Create the staging tables; MDM id -> stored change marker, for the connector."""
        self.stage.create()
        return self.stage.markers()

    # --- a page ------------------------------------------------------------------------------------
    def stage_page(self, records: list[DeviceRecord]) -> None:
        """Compare one page with storage and stage what is new or changed."""
        with self.stage.page():
            self.summary.pages += 1
            self.summary.devices_seen += len(records)
            records = [r for r in records if self._storable(r)]
            extra = sorted({f for r in records for f in r.unfetched if f in COLLECTED_FIELDS})
            stored = self.stage.stored([r.mdm_device_id for r in records], extra)
            page = diff.diff_page(records, stored, self._target(), self.seen, self.new_ids)
            self.seen |= page.seen
            self.new_ids |= page.new_ids
            self.summary.unchanged += page.unchanged
            self.stage.stage_new(page.new_rows)
            self._stage_software(page.new_software)
            self._stage_changes(page.changes)

    def _target(self) -> diff.Target:
        return diff.Target(self.linkage.id, self.linkage.name, self.linkage.auto_manage, self.now)

    def _storable(self, record: DeviceRecord) -> bool:
        """Fit the record to the database (one odd value never fails the run); False: skip the device."""
        keep, adjustments = storable.device(record)
        for adjustment in adjustments:
            self.adjustments.note(self.name, adjustment)
        return keep

    def _stage_changes(self, changes: list[diff.Change]) -> None:
        if not changes:
            return
        ids = [c.device_id for c in changes]
        warned = [c.device_id for c in changes if c.stored["device_status"] == STATUS_WARNING]
        plan = diff.plan_updates(changes, self.stage.full_rows(ids), self.stage.wipe_confirmations(warned),
                                 self.name)
        self.stage.stage_updates(plan.updates)
        self.stage.stage_history(plan.history)
        self._stage_software(plan.software)
        self.summary.changed += plan.changed
        self.summary.returned += plan.returned
        self.warning_cleared += plan.warning_cleared
        for event in plan.events:
            self.events.add(event)

    def _stage_software(self, pairs: list[tuple[str, list[SoftwareItem]]]) -> None:
        items = [(mdm_id, s.name, s.version, s.vendor) for mdm_id, found in pairs for s in found]
        self.stage.stage_software([mdm_id for mdm_id, _ in pairs], items)
        self.summary.software_items += len(items)

    # --- the end of the stream ----------------------------------------------------------------------
    def absent(self) -> list[tuple[int, str]]:
        """(id, MDM id) of the linkage's present devices this run's listing did not show."""
        return [(i, mdm_id) for i, mdm_id in self.stage.present() if i not in self.seen]

    def confirm_absent(self, gone: set[int], asked: int) -> None:
        """Record the re-check: the confirmed ones go missing, the others keep their row as it was."""
        self.gone = gone
        self.summary.rechecked = asked
        if asked > len(gone):
            self.warnings.append(f"{asked - len(gone):,} devices absent from the listing are still in the MDM "
                                 "(the list changed while it was read, or the MDM could not be asked); they keep "
                                 "their stored data and are read again at the next collection")

    def apply(self, warnings: list[str]) -> CollectionSummary:
        """Resolve identities, then write the whole run in one transaction."""
        self._resolve_reenrolments()
        self._flag_duplicates()
        self.held.applying = True
        try:
            summary = self._apply_in_one_transaction(warnings)
        finally:
            self.held.applying = False
        self._end()
        return summary

    def _apply_in_one_transaction(self, warnings: list[str]) -> CollectionSummary:
        with self.stage.applying():
            if not self.held.still_held():
                raise Busy(f"the collection lock of '{self.name}' was taken over by another process "
                           "(this run stalled too long); nothing was written")
            self._apply_missing()
            self._apply_new()
            self.stage.apply_updates()
            self.stage.apply_history_and_software(self.run_id, self.now)
            self.stage.settle_search_index()
            self.events.emit(self.name)
            warnings = [*warnings, *self.warnings, *self.adjustments.warnings()]
            reason = ("warnings: " + "; ".join(warnings)) if warnings else None
            return self._record("succeeded", reason)

    # --- identity -----------------------------------------------------------------------------------
    def _resolve_reenrolments(self) -> None:
        """New MDM ids that are stored devices of this linkage under an old id become updates."""
        candidates = stored_identity.same_linkage_matches(self.ctx.db, NEW, self.linkage.id, identity.IDENTITY_KEYS,
                                                          identity.MIN_KEY_LENGTH)
        picked = identity.pick_reenrolments(candidates, self.seen)
        if not picked:
            return
        old_rows = self.stage.full_rows([m.device_id for m in picked.values()])
        for mdm_id, match in sorted(picked.items()):
            row = self.stage.staged_new(mdm_id)
            self.stage.unstage_new(mdm_id)
            old = old_rows[match.device_id]
            self.seen.add(match.device_id)
            # a re-registration, so a wiped device's "Warning" ends
            self.stage.stage_updates([(match.device_id, row, True)])
            self.stage.stage_history(diff.history(match.device_id, old, row))
            if old.get("missing_since") is not None:
                self.summary.returned += 1
            else:
                self.summary.changed += 1
            self.events.add(Event("reenrolled", f"{label(old)} re-enrolled in {self.name}: same "
                                  f"{identity.KEY_LABELS[match.key]} {old.get(match.key)}, MDM id "
                                  f"{old['mdm_device_id']} → {mdm_id}", match.device_id))

    def _flag_duplicates(self) -> None:
        """New devices that are also seen through another linkage get ``duplicate_of``; never merged."""
        found = identity.pick_duplicates(stored_identity.other_linkage_matches(
            self.ctx.db, NEW, self.linkage.id, identity.IDENTITY_KEYS, identity.MIN_KEY_LENGTH))
        if not found:
            return
        for mdm_id, match in found.items():
            self.stage.mark_duplicate(mdm_id, match.device_id)
        others = self.stage.linkage_names([m.device_id for m in found.values()])
        for mdm_id, match in sorted(found.items(), key=lambda item: item[0]):
            where = (f"device {match.device_id} of {others[match.device_id]}" if match.device_id in others
                     else f"device {match.device_id}")
            self.events.add(Event("duplicate", f"device {mdm_id} of {self.name} has the "
                                  f"{identity.KEY_LABELS[match.key]} of {where}: the same hardware seen through "
                                  "two linkages"))

    # --- the apply ----------------------------------------------------------------------------------
    def _apply_missing(self) -> None:
        """Devices the MDM confirmed gone are marked, never deleted."""
        gone = sorted(self.gone - self.seen)   # a re-enrolment found after the re-check is not gone
        self.stage.apply_missing(gone, self.now)
        self.summary.missing = len(gone)
        if len(gone) <= EVENT_DETAIL_LIMIT:
            names = {i: label(row) for i, row in self.stage.labels(gone).items()}
            for device_id in gone:
                self.events.add(Event("missing", f"{names.get(device_id, device_id)} is missing from {self.name}",
                                      device_id))
        else:
            self.events.add(Event("missing", f"{len(gone):,} devices are missing from {self.name}"))

    def _apply_new(self) -> None:
        count = self.stage.apply_new()
        self.summary.new = count
        if 0 < count <= EVENT_DETAIL_LIMIT:
            for row in self.stage.first_seen(self.now):
                self.events.add(Event("new_device", f"new device {label(row)} in {self.name}", row["id"]))
        elif count:
            self.events.add(Event("new_device", f"{count:,} new devices in {self.name}"))

    # --- endings ------------------------------------------------------------------------------------
    def finish(self, status: str, reason: str) -> CollectionSummary:
        """A run that ends without applying: the inventory stays as it was; record why."""
        if self.summary.status == "succeeded":  # applied before the cancel arrived: it stands
            return self.summary
        try:
            s = self.summary
            s.new = s.changed = s.unchanged = s.returned = s.missing = s.software_items = s.rechecked = 0
            with self.ctx.db.atomic():
                summary = self._record(status, reason)
                if status == "failed":
                    events.emit("collection_failed", f"collection of {self.name} failed: {reason}",
                                linkage_name=self.name)
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            log.exception("could not record the end of the collection run %s of %s", self.run_id, self.name)
            self.summary.status, self.summary.reason, self.summary.finished_at = status, reason, runs.utcnow()
            summary = self.summary
        self._end()
        return summary

    def _record(self, status: str, reason: str | None) -> CollectionSummary:
        s = self.summary
        s.status, s.reason, s.finished_at = status, reason, runs.utcnow()
        runs.record_end([self.run_id], runs.RunEnd(status, reason, s.finished_at, run_counts(s),
                                                   self._mdm_start(status)), inventory_of=self.linkage.id)
        kind = "changed-only " if self.kind == "changed" else ""
        audit.record(self.ctx, category="collection", action=f"{self.trigger} {kind}collection", outcome=status,
                     linkage_name=self.name, message=describe(s), options=counts(s))
        return s

    def _mdm_start(self, status: str) -> datetime | None:
        """The MDM's clock at the start, kept only for a run that applied (the next changed-only bound)."""
        if status != "succeeded" or self.mdm_started_at is None:
            return None
        return datetime.fromtimestamp(self.mdm_started_at, UTC)

    def _end(self) -> None:
        """Drop the staging tables, stop the heartbeat, release the lock."""
        try:
            self.stage.drop()
        except Exception:  # noqa: BLE001 - the connection closes right after, which drops them anyway
            log.debug("could not drop the staging tables", exc_info=True)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        try:
            locks.release(self.held)
        except Exception:  # noqa: BLE001 - a stale lock is taken over after locks.STALE_AFTER
            log.exception("could not release the collection lock of %s", self.name)


def changed_since(linkage: HasId) -> float | None:
    """Where a changed-only run starts: the MDM's clock at the last successful run's start, minus
    CHANGED_MARGIN (a device that checked in while that run listed, or a clock step, is still caught).
    Never this machine's clock: its skew to the MDM's would lose devices."""
    last = runs.last_mdm_start(linkage.id)
    if last is None:
        return None
    return last.timestamp() - CHANGED_MARGIN.total_seconds()


def close_abandoned_runs(ctx: Context, linkage: runs.LinkageRef) -> None:
    """Runs left "running" by a process of this host that no longer runs (killed): recorded as failed.

    Called with the linkage's lock held, so no live run of it can be among them.
    """
    for run in runs.abandoned(linkage.id, ctx.host):
        if run.pid is None or locks.process_alive(run.pid):
            continue
        reason = (f"interrupted: process {run.pid} on {run.host} ended without finishing this run; "
                  "nothing of it was written")
        with ctx.db.atomic():
            runs.record_end([run.id], runs.RunEnd("failed", reason, runs.utcnow()), only_running=True)
            audit.record(ctx, category="collection", action=f"{run.trigger} collection", outcome="failed",
                         linkage_name=linkage.name, message=reason)
        log.warning("collection run %s of %s: %s", run.id, linkage.name, reason)
