"""The overview (the console's first screen): the fleet at a glance, every count a way into the devices.

Counts and bars are ``FigureList`` rows (arrows and tab move, enter opens the Devices screen filtered
to exactly the devices counted); the collection history is drawn with Textual's ``Sparkline`` from the
stored runs. The figures come from ``services.overview`` in a thread worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Sparkline

from mdmtui.charts import duration
from mdmtui.formatting import local_time, plural
from mdmtui.screens import backend
from mdmtui.screens.base import LoadedScreen
from mdmtui.screens.commands import bindings
from mdmtui.widgets.figures import FigureList, Passage
from mdmtui.widgets.safe import plain

RUNS_SHOWN = 20  # services.overview.RUNS_KEPT (not imported: the screen module stays light)
CARDS = (  # (column, list id, title, bar tone)
    (0, "security", "Security and state", "error"),
    (0, "actions", "Actions", "warning"),
    (0, "os-mix", "OS mix", "primary"),
    (1, "versions", "OS versions (oldest first)", "primary"),
    (1, "last-seen", "Last seen (last alive confirmation)", "primary"),
    (2, "linkages", "Linkages: devices and licenses", "primary"),
)


def _share(count: int, total: int) -> str | None:
    return f"{100 * count / total:.1f}%" if total else None


def _card(title: str, *, id: str | None = None) -> Vertical:
    card = Vertical(classes="card", id=id)
    card.border_title = title
    return card


class OverviewScreen(LoadedScreen):
    """Security counts, OS versions, last seen, licenses, collections and actions of the whole fleet."""

    SCOPE = "overview"
    CSS_PATH = "overview.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("overview")
    LOAD_GROUP = LOAD_NAME = "overview"

    def __init__(self) -> None:
        super().__init__()
        self.figures: Any = None

    def body(self) -> ComposeResult:
        scroll = VerticalScroll(id="overview")
        scroll.can_focus = False  # tab and the arrows go from list to list; the page scrolls to follow
        with scroll:
            yield Label("Loading the overview…", id="as-of")
            with Horizontal(id="columns"):
                for column in range(3):
                    with Vertical(classes="column"):
                        for _c, list_id, title, tone in (c for c in CARDS if c[0] == column):
                            with _card(title):
                                yield FigureList(id=list_id, tone=tone)
                        if column == 2:
                            history = Passage(classes="card", id="history")
                            history.border_title = f"Collections (the last {RUNS_SHOWN} runs)"
                            with history:
                                yield Label("no collection yet", classes="muted")

    def on_resize(self) -> None:
        self.set_class(self.size.width < 120, "-narrow")

    def fetch(self) -> Any:
        """Every figure of the overview."""
        return backend.overview(self.ctx)

    def show(self, rows: Any) -> None:
        """Fill the lists and the history (the focus stays where it was)."""
        o = self.figures = rows
        total = o.devices.count
        stale = f"stale: not seen for {o.stale_days} days"
        self.query_one("#as-of", Label).update(plain(
            f"{plural(total, 'device')} as of {local_time(o.as_of)} · {stale} · enter on a count lists its "
            "devices · r refreshes"))
        self._list("security").set_rows([(f.label, f, _share(f.count, total)) for f in o.security], top=total)
        self._list("actions").set_rows([(f.label, f, f.detail) for f in o.actions])
        self._list("os-mix").set_rows([(f.label, f, _share(f.count, total)) for f in o.os_classes], top=total)
        version_rows: list[tuple[str, Any, str | None]] = []
        for p in o.platforms:
            version_rows.append((f"{p.name} ({p.total:,})", None, None))
            version_rows += [(f"  {v.label}", v, None) for v in p.versions]
        top = max([v.count for p in o.platforms for v in p.versions] + [1])
        self._list("versions").set_rows(version_rows, top=top)
        self._list("last-seen").set_rows([(f.label, f, _share(f.count, total)) for f in o.last_seen], top=total)
        linkage_rows: list[tuple[str, Any, str | None]] = []
        for lk in o.linkages:
            linkage_rows.append((f"{lk.name} ({lk.system})", None, None))
            linkage_rows += [("  devices", lk.devices, None), ("  licenses used", lk.licenses, None)]
        self._list("linkages").set_rows(linkage_rows, top=max([lk.devices.count for lk in o.linkages] + [1]))
        self._show_history(o.linkages)
        if not isinstance(self.focused, FigureList):
            self._list("security").focus()

    def _list(self, list_id: str) -> FigureList:
        return self.query_one(f"#{list_id}", FigureList)

    def _show_history(self, linkages: list[Any]) -> None:
        history = self.query_one("#history", Passage)
        history.remove_children()
        widgets: list[Any] = []
        for lk in linkages:
            last = lk.last
            if last is None:
                widgets.append(Label(plain(f"{lk.name}: never collected"), classes="run"))
                continue
            took = f", {duration(last.duration_s)}" if last.duration_s is not None else ""
            widgets.append(Label(plain(f"{lk.name}: {last.status}{took}, {local_time(last.started_at)}"),
                                 classes=f"run -{last.status}"))
            durations = [r.duration_s or 0.0 for r in lk.runs]
            totals = [float(r.inventory_total) for r in lk.runs if r.inventory_total is not None]
            widgets.append(self._spark("time", durations, f"longest {duration(max(durations))}"))
            if totals:
                widgets.append(self._spark("devices", totals, f"{int(totals[-1]):,} now"))
        if not widgets:
            widgets.append(Label("no linkage yet: add one on the Linkages screen (2)", classes="muted"))
        history.mount_all(widgets)

    @staticmethod
    def _spark(label: str, values: list[float], note: str) -> Horizontal:
        return Horizontal(Label(label, classes="spark-label"), Sparkline(values, classes="spark"),
                          Label(note, classes="spark-note"), classes="spark-row")

    @on(FigureList.Chosen)
    def _chosen(self, event: FigureList.Chosen) -> None:
        self._open(event.figure)

    def action_collect(self) -> None:
        """Collect every linkage now (the figures follow when it ends)."""
        self.app.collect(None)

    def action_collect_changed(self) -> None:
        """Collect only what changed, on every linkage."""
        self.app.collect(None, changed_only=True)

    def action_open(self) -> None:
        """The Devices screen with exactly the highlighted count's devices."""
        if isinstance(self.focused, FigureList) and (figure := self.focused.figure()) is not None:
            self._open(figure)

    def _open(self, figure: Any) -> None:
        self.app.drill_down(dict(figure.drill), self._title_of(figure))

    def _title_of(self, figure: Any) -> str:
        """The drill-down's name on the Devices screen: the count's words, with its card's context."""
        o = self.figures
        for p in getattr(o, "platforms", []):
            if figure in p.versions:
                return f"{p.name} {figure.label}"
        if figure in getattr(o, "last_seen", []):
            return f"last seen {figure.label}"
        for lk in getattr(o, "linkages", []):
            if figure is lk.licenses:
                return figure.label
            if figure is lk.devices:
                return f"devices of {lk.name}"
        return figure.label
