"""The sdm_import.properties editor: line numbers, problems listed by line as you type, save when clean."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea
from textual.worker import Worker

from mdmtui import sdm_properties
from mdmtui.formatting import plural
from mdmtui.screens import backend
from mdmtui.widgets.safe import report_worker_failure, visible

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp

TEMPLATE = """# sdm_import.properties: the database server of each SDM linkage (for software collection)
# sdm.N.name=<an SDM linkage's MDM settings name>
# sdm.N.dbhost=<IP address or host name>
# sdm.N.dbport=<port, default 26066>
"""


def problems_text(report: sdm_properties.PropertiesReport) -> str:
    """One line per problem, by line number; or what the file defines."""
    if report.problems:
        return "\n".join(f"line {p.line}: {p.message}" for p in report.problems)
    if not report.entries:
        return "No entry yet."
    return "OK: " + "; ".join(f"{e.name} → {e.dbhost}:{e.dbport}" for e in report.entries)


class PropertiesScreen(ModalScreen[None]):
    """Edit the file the settings point at; ``ctrl+s`` saves (only without problems)."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    CSS_PATH = "properties.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="properties.save"),
        Binding("escape", "close", "Close", id="properties.close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] | None = None
        self.report: sdm_properties.PropertiesReport | None = None

    @property
    def path(self) -> Path:
        """The file edited."""
        return self.app.ctx.settings.properties_path

    def compose(self) -> ComposeResult:
        with Vertical(id="props"):
            yield Label(f"sdm_import.properties — {self.path}", id="props-title", markup=False)
            yield TextArea("", id="props-text", show_line_numbers=True, soft_wrap=False)
            yield Label("Problems", classes="props-label")
            yield Static("", id="props-problems", markup=False)
            yield Label("ctrl+s save · esc close", id="props-keys")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exit_on_error=False, name="sdm_import.properties")
    def _load(self) -> None:
        names = backend.sdm_linkage_names(self.app.ctx)
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else TEMPLATE
        self.app.call_from_thread(self._loaded, names, text)

    def _loaded(self, names: list[str], text: str) -> None:
        self.names = names
        area = self.query_one(TextArea)
        shown = "\n".join("\t".join(visible(part) for part in line.split("\t")) for line in text.split("\n"))
        if shown != text:  # a terminal would obey them: shown as escapes, which the check then reports
            self.notify("the file holds control characters: they are shown as \\xNN escapes", severity="warning")
        area.load_text(shown)
        area.focus()
        self._check()

    @on(TextArea.Changed)
    def _check(self) -> None:
        text = self.query_one(TextArea).text
        self.report = sdm_properties.parse(text, sdm_linkage_names=self.names)
        self.query_one("#props-problems", Static).update(problems_text(self.report))
        self.query_one("#props-problems").set_class(bool(self.report.problems), "-bad")

    def action_save(self) -> None:
        """Write the file (atomically, comments kept) unless a problem remains."""
        if self.app.ctx.read_only:
            self.notify("read-only mode: the file is not written", severity="warning")
            return
        if self.report is None:
            self.notify("not saved: the file was not read (see the error shown)", severity="error")
            return
        if self.report.problems:
            self.notify(f"not saved: fix the {plural(len(self.report.problems), 'problem')} listed first",
                        severity="error")
            return
        self._save(self.report)

    @work(thread=True, exit_on_error=False, name="save sdm_import.properties")
    def _save(self, report: sdm_properties.PropertiesReport) -> None:
        # the file is a setting: admins only when roles are configured (refusals audited, then shown)
        ctx = self.app.ctx
        try:
            backend.require(ctx, backend.Permission.SETTINGS, target="sdm_import.properties")
        except backend.PermissionDenied as exc:
            self.app.call_from_thread(self.notify, f"not saved: {exc}", severity="error")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sdm_properties.write(self.path, report.entries, original_text=report.text)
        self.app.call_from_thread(self.notify, f"saved {self.path}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read or save shows its reason."""
        report_worker_failure(self, event)

    def action_close(self) -> None:
        """Close the editor."""
        self.dismiss(None)
