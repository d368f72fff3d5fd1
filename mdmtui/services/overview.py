"""The fleet at a glance: security counts, OS mix and versions, last-seen ages, license use, the
collection history per linkage and the actions not final — for the console's Overview screen and
``mdmtui overview``.

Every figure is aggregate SQL: one pass over the device table for the security and last-seen counts,
one ``GROUP BY`` each for the OS classes and versions, license use and linkages; the history comes from
``collection_run`` alone (each run records its inventory total). No per-device Python. Each figure
carries the ``DeviceFilter`` fields that list exactly its devices (the console's drill-down).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mdmtui.clock import utcnow  # the snapshot tests fix it here
from mdmtui.formatting import plural
from mdmtui.services import inventory
from mdmtui.services.context import Context
from mdmtui.services.inventory import NOT_COLLECTED, NOT_FINAL
from mdmtui.storage import overview as stored

RUNS_KEPT = 20  # the runs per linkage the history shows (the sparklines' width)
FAILED_ACTION_DAYS = 7  # failed actions counted over this many days
OS_CLASS_LABELS = {"Si": "SDM iOS", "SA": "SDM Android", "M": "MobileIron", "IS": "Intune smart device",
                   "IP": "Intune PC"}
# (label, lower bound in days or None, upper bound in days or None) of the last-seen histogram
AGE_BUCKETS = (("under 1 day", None, 1), ("1–7 days", 1, 7), ("7–30 days", 7, 30), ("30–90 days", 30, 90),
               ("90 days or more", 90, None))


SECURITY_ORDER = ("jailbroken", "passcode", "unencrypted", "stale", "unmanaged")


@dataclass(frozen=True)
class Figure:
    """One count, and the DeviceFilter fields that list exactly the devices it counts."""

    key: str
    label: str
    count: int
    drill: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None  # a second figure said in words ("3 actions")


@dataclass(frozen=True)
class Platform:
    """The OS versions of one OS (iOS, Android, Windows…), the oldest first."""

    name: str
    total: int
    versions: list[Figure]


@dataclass(frozen=True)
class Run:
    """One collection run of a linkage, as the history draws it."""

    id: int
    started_at: datetime
    status: str
    kind: str
    duration_s: float | None
    inventory_total: int | None  # None: a run from before mdmtui recorded it
    devices_seen: int
    reason: str | None


@dataclass(frozen=True)
class LinkageFigures:
    """A linkage: its devices, license use, and its last runs (oldest first, the newest last)."""

    name: str
    system: str  # "removed" for devices whose linkage was removed
    devices: Figure
    licenses: Figure
    runs: list[Run]

    @property
    def last(self) -> Run | None:
        """The newest run."""
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True)
class Overview:
    """Every figure of the Overview screen, as of one instant."""

    as_of: datetime
    stale_days: int
    devices: Figure
    security: list[Figure]
    os_classes: list[Figure]
    platforms: list[Platform]
    last_seen: list[Figure]
    linkages: list[LinkageFigures]
    actions: list[Figure]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (stable keys; datetimes as ISO 8601)."""
        data = asdict(self)
        for lk, original in zip(data["linkages"], self.linkages):
            lk["last"] = asdict(original.last) if original.last else None
        return data


def overview(ctx: Context, *, now: datetime | None = None) -> Overview:
    """The figures of the whole inventory now (``ctx.settings.stale_days`` defines stale)."""
    as_of = now or utcnow()
    stale_days = ctx.settings.stale_days
    per_linkage, devices, security, last_seen = _device_pass(as_of, stale_days)
    os_groups = _os_groups()
    return Overview(as_of=as_of, stale_days=stale_days, devices=devices, security=security,
                    os_classes=_os_classes(os_groups), platforms=_platforms(os_groups), last_seen=last_seen,
                    linkages=_linkages(per_linkage), actions=_actions(as_of))


# ------------------------------------------------------------------------------ one pass over devices


def _security_figures(stale_days: int) -> list[Figure]:
    """The figure (without its count) of each security problem and state; its key is storage's problem key."""
    labels = dict(inventory.SECURITY_PROBLEMS, stale=f"not seen for {stale_days} days or more",
                  unmanaged="no profile / not active in MDM")  # short enough for a third of 160 columns
    found = [Figure(k, labels[k], 0, {"security_problem": k, "stale_days": stale_days}) for k in SECURITY_ORDER]
    found.append(Figure("missing", "missing from its MDM", 0, {"missing": True}))
    found.append(Figure("duplicates", "two linkages, same serial/IMEI", 0, {"duplicates": True}))
    return found


def _age_figures(as_of: datetime) -> list[tuple[Figure, stored.Bucket]]:
    found: list[tuple[Figure, stored.Bucket]] = []
    for label, low, high in AGE_BUCKETS:
        drill: dict[str, Any] = {}
        if high is not None:  # seen more recently than ``low`` days ago, not as recently as ``high``
            drill["seen_after"] = as_of - timedelta(days=high)
        if low is not None:
            drill["seen_before"] = as_of - timedelta(days=low)
        found.append((Figure(f"seen:{label}", label, 0, drill), (drill.get("seen_after"), drill.get("seen_before"))))
    found.append((Figure("seen:unknown", "not collected", 0, {"seen_unknown": True}), (None, None)))
    return found


def _device_pass(as_of: datetime, stale_days: int) -> tuple[dict[str | None, tuple[int, int]], Figure,
                                                              list[Figure], list[Figure]]:
    """One scan, grouped by linkage: (devices, licenses used) per linkage name, the device total, the
    security counts and the last-seen histogram (the fleet's figures: the sums over the linkages)."""
    security, ages = _security_figures(stale_days), _age_figures(as_of)
    rows = stored.device_counts(stale_days, [f.key for f in security], [b for _f, b in ages], inventory.utcnow())
    per_linkage = {r.linkage_name: (r.devices, r.licensed) for r in rows}
    problems = [Figure(f.key, f.label, sum(r.problems[i] for r in rows), f.drill) for i, f in enumerate(security)]
    seen = [Figure(f.key, f.label, sum(r.buckets[i] for r in rows), f.drill) for i, (f, _b) in enumerate(ages)]
    total = sum(n for n, _l in per_linkage.values())
    return per_linkage, Figure("devices", "devices", total, {}), problems, seen


# ------------------------------------------------------------------------------------ OS mix, versions


def _os_groups() -> list[tuple[str, str | None, str | None, int]]:
    """(OS class, OS name, OS version, devices): one GROUP BY for the OS mix and the versions."""
    return stored.os_groups()


def _os_classes(groups: list[tuple[str, str | None, str | None, int]]) -> list[Figure]:
    counts: dict[str, int] = {}
    for cls, _name, _version, n in groups:
        counts[cls] = counts.get(cls, 0) + n
    return [Figure(f"os_class:{cls}", OS_CLASS_LABELS.get(cls, cls), counts[cls], {"os_class": cls})
            for cls in sorted(counts)]


def version_key(version: str | None) -> tuple[Any, ...]:
    """Versions in numeric order ("9.3" before "10.0" before "10.0.1"); not collected last."""
    if version is None:
        return (1,)
    parts = re.findall(r"\d+|[^\d.\s_-]+", version)
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts), version)


def _platforms(groups: list[tuple[str, str | None, str | None, int]]) -> list[Platform]:
    merged: dict[tuple[str | None, str | None], int] = {}
    for _cls, name, version, n in groups:
        merged[name, version] = merged.get((name, version), 0) + n
    by_name: dict[str | None, list[tuple[str | None, int]]] = {}
    for (name, version), n in merged.items():
        by_name.setdefault(name, []).append((version, n))
    platforms = []
    for name in sorted(by_name, key=lambda n: (n is None, (n or "").lower())):
        versions = sorted(by_name[name], key=lambda v: version_key(v[0]))
        os_name = NOT_COLLECTED if name is None else name
        figures = [Figure(f"os:{name}:{v}", v if v is not None else "not collected", n,
                          {"os_name": os_name, "os_version": NOT_COLLECTED if v is None else v})
                   for v, n in versions]
        platforms.append(Platform(name or "OS not collected", sum(n for _v, n in versions), figures))
    return platforms


# ------------------------------------------------------------------------------ linkages and history


def _linkages(per_linkage: dict[str | None, tuple[int, int]]) -> list[LinkageFigures]:
    """Every linkage and every linkage name devices still carry (a removed linkage's kept devices).
    Devices without a linkage name (none since linkage names were kept) count in the totals only."""
    systems = stored.linkage_systems()
    names = sorted(set(systems) | {n for n in per_linkage if n is not None}, key=str.lower)
    result = []
    for name in names:
        devices, licensed = per_linkage.get(name, (0, 0))
        result.append(LinkageFigures(
            name=name, system=systems.get(name, "removed"),
            devices=Figure(f"linkage:{name}", name, devices, {"linkage": name}),
            licenses=Figure(f"licenses:{name}", f"licenses used in {name}", licensed,
                            {"linkage": name, "licensed": True}),
            runs=_runs(name)))
    return result


def _runs(linkage_name: str) -> list[Run]:
    runs = [Run(id=r.id, started_at=r.started_at, status=r.status, kind=r.kind, devices_seen=r.devices_seen,
                duration_s=(r.finished_at - r.started_at).total_seconds() if r.finished_at else None,
                inventory_total=r.inventory_total, reason=r.reason) for r in stored.recent_runs(linkage_name, RUNS_KEPT)]
    return runs[::-1]


# -------------------------------------------------------------------------------------------- actions


def _actions(as_of: datetime) -> list[Figure]:
    since = as_of - timedelta(days=FAILED_ACTION_DAYS)
    figures = []
    for key, label, outcomes, drill in (
            ("pending", "devices, not final", NOT_FINAL, {"action": "pending"}),
            ("failed", f"devices, failed ({FAILED_ACTION_DAYS} days)", ("failed",),
             {"action": "failed", "action_since": since})):
        actions, devices = stored.action_counts(outcomes, since if key == "failed" else None)
        figures.append(Figure(key, label, devices, drill, detail=plural(actions, "action")))
    return figures
