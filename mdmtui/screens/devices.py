"""The devices screen (main): the virtual device table, filters, detail pane, actions on devices."""

from __future__ import annotations

import time
from typing import Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Label, Tabs

from mdmtui import filterlang, filterstore
from mdmtui.errors import UsageError
from mdmtui.records import Action, WipeOptions
from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen, role_refusal
from mdmtui.screens.commands import bindings
from mdmtui.screens.dialogs import (ChoiceScreen, ConfirmScreen, FormScreen, ResultsScreen, TypedConfirmScreen,
                                    WipeConfirmScreen)
from mdmtui.widgets.detail import DetailPane
from mdmtui.formatting import local_time, outcome_line, plural
from mdmtui.widgets.safe import plain
from mdmtui.widgets.virtual_table import Column, VirtualTable
from mdmtui.widgets.field import HistoryField

INTUNE_CLASSES = {"IS", "IP"}
ACTIONS = {"lock": Action.LOCK, "wipe": Action.WIPE, "reset_passcode": Action.RESET_PASSCODE}
ACTION_WORDS = {Action.LOCK: "Lock", Action.WIPE: "Wipe", Action.RESET_PASSCODE: "Reset the passcode of"}
OS_CLASSES = (("Si", "SDM iOS"), ("SA", "SDM Android"), ("M", "MobileIron"), ("IS", "Intune smart device"),
              ("IP", "Intune PC"))
QUICK_CLEARED = {"linkage": None, "os_class": None, "device_status": None, "missing": None,
                 "security_problem": None, "software_title": None, "software_version": None,
                 "without_software": False}
# the overview's drill-down fields (DeviceFilter): set together by ``drill_down``, cleared together by esc
DRILL_CLEARED = {"os_name": None, "os_version": None, "duplicates": None, "seen_after": None, "seen_before": None,
                 "seen_unknown": None, "licensed": None, "action": None, "action_since": None}
NEEDS_DEVICE = {"describe", "lock", "wipe", "reset_passcode", "delete", "edit_asset", "mark"}
ASSET_FIELDS = (("asset_number", "Asset number"), ("department", "Department"), ("location", "Location"),
                ("assigned_user", "Assigned user"), ("notes", "Notes"))


def device_name(row: Any) -> str:
    """The name shown and typed to confirm a wipe (the lookup service's rule)."""
    return backend.device_name(row)


SEVERITY = ("profile removed", "jailbroken", "no passcode", "unencrypted")  # the worst first: the column is narrow


def security_text(flags: list[str]) -> str:
    """The security column: problems, the worst first (the detail pane lists them in full)."""
    return ", ".join(sorted(flags, key=lambda f: SEVERITY.index(f) if f in SEVERITY else len(SEVERITY)))


def mdm_cell(row: Any) -> str:
    """Gone from its MDM, or else "wait" while an action sent to it is not final (the Pending screen)."""
    if row.missing_since:
        return "gone"
    return "wait" if getattr(row, "action_pending", False) else ""


def mdm_state(row: Any) -> str | None:
    """The MDM's device state, else whether the MDM profile is on (None: not collected)."""
    if row.mdm_status:
        return row.mdm_status
    return None if row.mdm_managed is None else ("managed" if row.mdm_managed else "profile removed")


def device_columns(security: Any) -> list[Column]:
    """Every column the table can show, Name first (always shown, frozen); ``security(row)`` gives the
    security status text (or ""). Keys are sort keys of the inventory service and the config's names."""
    last: list[Any] = [None, 0, ""]  # the row last asked, the minute, its security text: its cell and tone ask

    def security_text(row: Any) -> str:
        minute = int(time.monotonic() // 60)  # "not seen 30d+" comes with time
        if last[0] is not row or last[1] != minute:
            last[:] = [row, minute, security(row)]
        return cast(str, last[2])

    return [
        Column("computer_name", "Name", 18, lambda d: d.computer_name, flex=True),
        Column("missing_since", "MDM", 4, mdm_cell, tone=lambda d: "danger" if d.missing_since else (
            "warn" if getattr(d, "action_pending", False) else None)),
        Column("security", "Security", 16, security_text, tone=lambda d: "danger" if security_text(d) else None),
        Column("os_name", "OS", 14, lambda d: " ".join(x for x in (d.os_name, d.os_version) if x) or None),
        Column("model", "Model", 14, lambda d: d.model),
        Column("serial_number", "Serial", 13, lambda d: d.serial_number, whole=True),
        Column("imei", "IMEI", 15, lambda d: d.imei, whole=True),
        Column("phone_number", "Phone", 13, lambda d: d.phone_number, whole=True),
        Column("carrier", "Carrier", 10, lambda d: d.carrier),
        Column("device_type", "Device Type", 12, lambda d: d.device_type),
        Column("device_status", "Status", 8, lambda d: d.device_status,
               tone=lambda d: "warn" if d.device_status == "Warning" else None),
        Column("last_alive_at", "Last Alive", 16, lambda d: local_time(d.last_alive_at)),
        Column("linkage_name", "Linkage", 14, lambda d: d.linkage_name),
        # shown when the admin picks them (o)
        Column("user_name", "User", 14, lambda d: d.user_name),
        Column("compliance", "Compliance", 12, lambda d: d.compliance),
        Column("mdm_status", "MDM state", 15, mdm_state,
               tone=lambda d: "danger" if d.mdm_managed is False else None),
        Column("asset_number", "Asset number", 12, lambda d: d.asset_number, whole=True),
        Column("assigned_user", "Assigned user", 14, lambda d: d.assigned_user),
        Column("udid", "UDID", 25, lambda d: d.udid, whole=True),
        Column("iccid", "ICCID", 20, lambda d: d.iccid, whole=True),
        Column("manufacturer", "Manufacturer", 12, lambda d: d.manufacturer),
        Column("os_class", "OS class", 8, lambda d: d.os_class),
    ]


def software_text(f: Any) -> str:
    """The software filter as the quick-filter line names it."""
    version = "" if f.software_version is None else (
        " (version not collected)" if f.software_version == "" else f" {f.software_version}")
    return f"{'without' if f.without_software else 'with'} software: {f.software_title}{version}"


DEFAULT_COLUMNS = ("missing_since", "security", "os_name", "model", "serial_number", "imei", "phone_number",
                   "carrier", "device_type", "device_status", "last_alive_at", "linkage_name")


class DevicesScreen(ConsoleScreen):
    """All devices; find one in seconds, see everything about it, act on it."""

    SCOPE = "devices"
    CSS_PATH = "devices.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("devices")

    def __init__(self) -> None:
        super().__init__()
        self.source: backend.DeviceSource | None = None
        self._reasons: dict[str, str] = {}
        self._pinned: str | None = None  # the label of the one device shown (from an event)
        self._want_device: int | None = None
        self._drill: str | None = None  # the name of the overview count shown (its filter is in source)
        self._want_drill: tuple[dict[str, Any], str | None] | None = None
        self._want_filter: str | None = None  # a filter text asked for before the screen was mounted
        self.marked_rows: dict[int, Any] = {}
        self.all_columns = device_columns(self._security_text)

    def shown_keys(self) -> list[str]:
        """The optional columns shown, in the table's order: the config's choice (unknown names left out),
        else the default set."""
        chosen = self.ctx.settings.console.device_columns
        wanted = set(DEFAULT_COLUMNS if chosen is None else chosen)
        return [c.key for c in self.all_columns[1:] if c.key in wanted]

    def _shown_columns(self, keys: list[str]) -> list[Column]:
        return [self.all_columns[0], *(c for c in self.all_columns[1:] if c.key in set(keys))]

    def body(self) -> ComposeResult:
        with Horizontal(id="filter-bar"):
            yield HistoryField(placeholder="/ filter: text or field:value, !not (os:iOS) · ↑↓ history",
                               id="filter")
            yield Label("", id="count")
        yield Label("", id="filter-error")
        yield Label("", id="quick")
        with Horizontal(id="body"):
            table = VirtualTable(self._shown_columns(self.shown_keys()), id="devices", key=lambda d: d.id,
                                 sort_key="computer_name", frozen=1)
            table.sort_labels = {c.key: c.label for c in self.all_columns}  # a hidden sort column is named
            yield table
            yield DetailPane(id="detail")

    @property
    def view_filter(self) -> backend.DeviceFilter:
        """The current view's filter (the source is made on mount)."""
        assert self.source is not None
        return self.source.filter

    # ------------------------------------------------------------------ loading

    def on_mount(self) -> None:
        super().on_mount()
        self.source = backend.DeviceSource(self.ctx, backend.device_filter(self.ctx.settings.stale_days,
                                                                           sort="computer_name"))
        self.table.set_source(self.source)
        self.table.focus()
        if self._want_device is not None:
            self._show_one(self._want_device)
            self._want_device = None
        if self._want_drill is not None:
            self.drill_down(*self._want_drill)
            self._want_drill = None
        if self._want_filter is not None:
            self.show_filter(self._want_filter)
            self._want_filter = None
        self._load_history()

    @work(thread=True, exit_on_error=False, name="filter history")
    def _load_history(self) -> None:
        history = filterstore.load_history(self.ctx.settings)
        self.app.call_from_thread(setattr, self.filter_field, "history", history)

    @property
    def filter_field(self) -> HistoryField:
        """The ``/`` prompt."""
        return self.query_one("#filter", HistoryField)

    @property
    def table(self) -> VirtualTable:
        """The device table."""
        return self.query_one("#devices", VirtualTable)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 120, "-narrow")

    def reload(self) -> None:
        """Fetch the rows again (cursor kept) and the highlighted device's detail."""
        self.table.reload()

    def _security_text(self, row: Any) -> str:
        return security_text(backend.security_flags(self.ctx, row))

    def _apply(self, **changes: Any) -> None:
        assert self.source is not None
        self.source = self.source.with_filter(**changes)
        self.table.sort_key, self.table.descending = self.view_filter.sort, self.view_filter.descending
        self.table.set_source(self.source)
        self._show_quick()

    def _show_quick(self) -> None:
        f = self.view_filter
        problem, labels = f.security_problem, dict(backend.security_problems(self.ctx))
        security = ("any problem" if problem is True
                    else labels.get(problem, problem) if isinstance(problem, str) else problem)
        parts = [f"{label}: {value}" for label, value in (
            ("linkage", f.linkage), ("OS", f.os_class), ("status", f.device_status),
            ("security", security)) if value]
        if f.missing:
            parts.append("missing from MDM")
        if f.software_title is not None:
            parts.append(software_text(f))
        text = ("quick filters — " + ", ".join(parts) + "  (f to change)") if parts else ""
        if self._drill is not None:
            text, parts = f"from the overview: {self._drill}  (esc: all devices)", ["overview"]
        if f.device_id is not None:
            text = f"one device: {self._pinned or f.device_id}  (esc: all devices)" + (f" · {text}" if text else "")
            parts.append("device")
        self.query_one("#quick", Label).update(plain(text))
        self.set_class(bool(parts), "-quick")

    @on(VirtualTable.Loaded, "#devices")
    def _loaded(self, event: VirtualTable.Loaded) -> None:
        self._show_count()
        self.refresh_bindings()  # a new filter whose first row is the device highlighted before announces none

    def _show_count(self) -> None:
        count = self.table.row_count or 0
        marked = f" · {len(self.table.marked)} marked" if self.table.marked else ""
        self.query_one("#count", Label).update(f"{plural(count, 'device')}{marked}")

    @on(VirtualTable.Highlighted, "#devices")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.refresh_bindings()
        pane = self.query_one(DetailPane)
        if event.row is None:
            pane.show_empty("No device matches." if self.table.row_count == 0 else "Loading…")
            return
        self._load_detail(event.row.id)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False, name="device detail")
    def _load_detail(self, device_id: int) -> None:
        detail = backend.device_detail(self.ctx, device_id)
        self.app.call_from_thread(self._show_detail, device_id, detail)

    def _show_detail(self, device_id: int, detail: backend.Detail) -> None:
        if self.table.highlighted_key != device_id:
            return  # the cursor moved on meanwhile
        pane = self.query_one(DetailPane)
        pane.show_detail(detail.title, detail.groups, detail.flags)
        pane.show_history(detail.history)
        pane.show_audit(detail.audit)
        self._set_software(device_id, "")

    def _set_software(self, device_id: int, text: str) -> None:
        table = self.query_one("#software", VirtualTable)
        table.set_source(backend.SoftwareSource(self.ctx, device_id, text))

    @on(VirtualTable.Loaded, "#software")
    def _software_loaded(self, event: VirtualTable.Loaded) -> None:
        source = event.table._source
        total = getattr(source, "unfiltered_total", None)
        self.query_one(DetailPane).show_software_count(event.count, total, getattr(source, "text", ""))

    @on(Input.Changed, "#sw-filter")
    def _software_filter(self, event: Input.Changed) -> None:
        row = self.table.cursor_row
        if row is not None:
            self._set_software(row.id, event.value.strip())

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        terms = self._parsed(event.value, typing=True)
        if terms is not None:
            self._apply(text=None, terms=terms, device_id=None)

    def _parsed(self, text: str, typing: bool = False) -> tuple[filterlang.Term, ...] | None:
        """The terms of the prompt's text; None (the error shown under the prompt, the rows kept) when
        it cannot be read. ``typing``: a last word still waiting for its value is left out, with a hint."""
        try:
            if typing:
                terms, hint = filterlang.parse_typing(text)
            else:
                terms, hint = filterlang.parse(text), None
        except filterlang.FilterError as exc:
            self._show_filter_error(str(exc))
            return None
        self._show_filter_error(hint, hint=True)
        return terms

    def _show_filter_error(self, message: str | None, hint: bool = False) -> None:
        text = "" if message is None else (f"… {message}" if hint else f"✗ not applied (rows unchanged): {message}")
        self.query_one("#filter-error", Label).update(plain(text))
        self.set_class(message is not None, "-filter-error")
        self.query_one("#filter-error", Label).set_class(hint, "-hint")
        self.filter_field.set_class(message is not None and not hint, "-invalid")

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        field = self.filter_field
        field.stop_walking()
        if self._parsed(event.value) is None:
            return  # stay in the prompt: the error says what to fix
        if event.value.strip():
            self._remember(event.value)
        self.table.focus()

    @work(thread=True, exit_on_error=False, name="remember the filter")
    def _remember(self, text: str) -> None:
        history = filterstore.remember(self.ctx.settings, text)
        self.app.call_from_thread(setattr, self.filter_field, "history", history)

    @on(VirtualTable.HeaderClicked, "#devices")
    def _header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        self._sort_by(event.column.key)

    def _sort_by(self, key: str | None) -> None:
        if key is None:
            return
        f = self.view_filter
        descending = not f.descending if f.sort == key else False
        self._apply(sort=key, descending=descending)

    def drill_down(self, fields: dict[str, Any], title: str | None = None) -> None:
        """Show exactly the devices of ``fields``: an overview count's (named ``title``), or the Software
        screen's title or version; they replace every filter."""
        if self.source is None:  # the screen is opened for this: apply once mounted
            self._want_drill = (fields, title)
            return
        with self.prevent(Input.Changed):
            self.filter_field.value = ""
        self._show_filter_error(None)
        self._drill = title
        self._apply(**{**QUICK_CLEARED, **DRILL_CLEARED, "text": None, "terms": (), "device_id": None, **fields})
        self.table.focus()

    def show_filter(self, text: str) -> None:
        """Show the devices a filter-language text selects, the text in the prompt to be read and edited
        (other screens drill down to the devices this way); quick filters and the one device are cleared."""
        if self.source is None:  # opened for this: apply once mounted
            self._want_filter = text
            return
        with self.prevent(Input.Changed):
            self.filter_field.value = text
        terms = self._parsed(text)
        self._drill = None
        self._apply(**QUICK_CLEARED, **DRILL_CLEARED, text=None, terms=terms or (), device_id=None)
        self.table.focus()

    def show_device(self, device_id: int) -> None:
        """Show exactly one device, by its id (another device may have the same name)."""
        if self.source is None:  # the screen is opened for this: show it once mounted
            self._want_device = device_id
            return
        self._show_one(device_id)

    @work(exit_on_error=False, name="show device")
    async def _show_one(self, device_id: int) -> None:
        self._pinned = await backend.run_sync(backend.device_label, self.ctx, device_id)
        with self.prevent(Input.Changed):
            self.query_one("#filter", Input).value = ""
        self._drill = None
        self._show_filter_error(None)
        self._apply(device_id=device_id, **QUICK_CLEARED, **DRILL_CLEARED, text=None, terms=())
        self.table.focus()

    # ------------------------------------------------------------------ bindings: finding

    def action_filter(self) -> None:
        """Focus the filter field. A priority binding: the focus moves before the app hands on the next key,
        so every key typed in the same burst as ``/`` (a paste, tmux, SSH) reaches the field, in order."""
        self.set_focus(self.query_one("#filter", Input))

    def action_clear(self) -> None:
        """Step back one level: close the prompt, then clear the text filter (or the one device shown),
        then the quick filters, then the marks; one step per press."""
        field = self.query_one("#filter", Input)
        f = self.view_filter
        if self.focused is not None and self.focused is not self.table and isinstance(self.focused, Input):
            self.table.focus()
        elif field.value or f.text or f.terms or f.device_id is not None:
            with self.prevent(Input.Changed):
                field.value = ""
            self._show_filter_error(None)
            self._apply(text=None, terms=(), device_id=None)
        elif self._drill is not None or any(getattr(f, name) for name in QUICK_CLEARED):
            self._drill = None
            self._apply(**QUICK_CLEARED, **DRILL_CLEARED)
        elif self.table.marked:
            self.table.clear_marks()
            self.marked_rows.clear()
            self._show_count()
            self.refresh_bindings()
        self.table.focus()

    # ------------------------------------------------------------------ saved views

    def action_views(self) -> None:
        """Recall a saved view; or save the current one, or delete one."""
        self._pick_view()

    @work(thread=True, exclusive=True, group="views", exit_on_error=False, name="saved views")
    def _pick_view(self) -> None:
        views = filterstore.load_views(self.ctx.settings)
        self.app.call_from_thread(self._show_views, views)

    def _show_views(self, views: dict[str, filterstore.View]) -> None:
        options: list[tuple[str, Any]] = [(f"{name} — {_view_text(view)}", ("recall", name, view))
                                          for name, view in views.items()]
        options.append(("Save the current view as…", ("save", None, None)))
        if views:
            options.append(("Delete a saved view…", ("delete", None, None)))

        def gone(name: str | None) -> None:
            if name:
                self._delete_view(name)

        def chosen(choice: Any) -> None:
            if choice is None:
                return
            what, name, view = choice
            if what == "recall":
                self._recall(name, view)
            elif what == "save":
                self.action_save_view()
            else:
                self.app.push_screen(ChoiceScreen("Delete the saved view", [(n, n) for n in views]), gone)
        self.app.push_screen(ChoiceScreen("Saved views", options), chosen)

    def _recall(self, name: str, view: filterstore.View) -> None:
        with self.prevent(Input.Changed):
            self.filter_field.value = view.filter
        terms = self._parsed(view.filter)
        self._apply(text=None, terms=terms or (), device_id=None, linkage=view.linkage, os_class=view.os_class,
                    device_status=view.device_status, missing=view.missing,
                    security_problem=view.security_problem, sort=view.sort, descending=view.descending)
        self.notify(f"view '{name}'")
        self.table.focus()

    def action_save_view(self) -> None:
        """Save the current filter, quick filters and sort under a name."""
        self.app.push_screen(FormScreen("Save the current view as", [("name", "Name", "")]),
                             lambda values: self._save_view(values["name"]) if values else None)

    def _current_view(self) -> filterstore.View:
        f = self.view_filter
        return filterstore.View(filter=filterlang.format(f.terms), linkage=f.linkage, os_class=f.os_class,
                                device_status=f.device_status, missing=f.missing,
                                security_problem=f.security_problem, sort=f.sort, descending=f.descending)

    def _save_view(self, name: str) -> None:
        try:
            name = filterstore.check_name(name)
        except UsageError as exc:
            self.notify(str(exc), severity="error")
            return
        self._store_view(name, self._current_view())

    @work(thread=True, exit_on_error=False, name="save the view")
    def _store_view(self, name: str, view: filterstore.View) -> None:
        replaced = filterstore.save_view(self.ctx.settings, name, view)
        self.app.call_from_thread(self.notify, f"view '{name}' {'replaced' if replaced else 'saved'}")

    @work(thread=True, exit_on_error=False, name="delete the view")
    def _delete_view(self, name: str) -> None:
        filterstore.delete_view(self.ctx.settings, name)
        self.app.call_from_thread(self.notify, f"view '{name}' deleted")

    def action_sort(self) -> None:
        """Choose the sort column (again: reverse the order)."""
        options = [(c.label, c.key) for c in self.table.columns]
        self.app.push_screen(ChoiceScreen("Sort by", options, current=self.view_filter.sort), self._sort_by)

    def action_choose_columns(self) -> None:
        """Pick the columns shown after Name; the choice is remembered in the config file."""
        from mdmtui.screens.dialogs import ChecklistScreen

        shown = {c.key for c in self.table.columns[1:]}
        options = [(c.label, c.key, c.key in shown) for c in self.all_columns[1:]]
        self.app.push_screen(ChecklistScreen("Columns shown (Name is always shown, at the left)", options),
                             lambda keys: self._set_columns(keys) if keys is not None else None)

    def _set_columns(self, keys: list[str]) -> None:
        keys = [c.key for c in self.all_columns[1:] if c.key in set(keys)]
        self.table.set_columns(self._shown_columns(keys))
        self._save_columns(keys)

    @work(thread=True, exclusive=True, group="save columns", exit_on_error=False, name="save the columns")
    def _save_columns(self, keys: list[str]) -> None:
        from mdmtui.config import save_console_setting

        path = save_console_setting(self.ctx.settings, "device_columns", keys)
        self.app.call_from_thread(self.notify, f"columns remembered in {path}")

    def action_refresh(self) -> None:
        """Reload from the database."""
        self.reload()
        self.app.refresh_unread()

    def action_focus_detail(self) -> None:
        """``tab`` goes round: the table, the pane's tab strip (arrows switch tabs), the tab's content
        (arrows and page keys scroll it: nothing in the pane needs a mouse), the table again."""
        strip = self.query_one("#detail-tabs").query_one(Tabs)
        if self.table.has_focus:
            strip.focus()  # TabbedContent itself cannot take focus: its tab strip can
        elif strip.has_focus:
            self.query_one(DetailPane).focus_content()
        else:
            self.table.focus()

    def action_mark(self) -> None:
        """Mark or unmark the highlighted device, then move down."""
        row = self.table.cursor_row
        if row is None:
            return
        if self.table.toggle_mark():
            self.marked_rows[row.id] = row
        else:
            self.marked_rows.pop(row.id, None)
        self.table.action_cursor(1)
        self._show_count()
        self.refresh_bindings()

    def action_quick_filter(self) -> None:
        """Pick a quick filter."""
        self._pick_quick_filter()

    @work(thread=True, exclusive=True, group="quick filter", exit_on_error=False, name="quick filter")
    def _pick_quick_filter(self) -> None:
        names = backend.linkage_names(self.ctx)
        self.app.call_from_thread(self._show_quick_filters, names)

    def _show_quick_filters(self, names: list[str]) -> None:
        options: list[tuple[str, Any]] = [("All devices (clear quick filters)", dict(QUICK_CLEARED))]
        options += [(f"Linkage: {n}", {"linkage": n}) for n in names]
        options += [(f"OS class: {c} ({label})", {"os_class": c}) for c, label in OS_CLASSES]
        options += [(f"Device Status: {s}", {"device_status": s}) for s in ("Unknown", "Warning")]
        options += [("Missing from its MDM", {"missing": True})]
        options += [("Any security problem", {"security_problem": True})]
        options += [(f"Security: {label}", {"security_problem": key})
                    for key, label in backend.security_problems(self.ctx)]
        self.app.push_screen(ChoiceScreen("Quick filter", options),
                             lambda choice: self._quick(choice) if choice is not None else None)

    def _quick(self, choice: dict[str, Any]) -> None:
        """A quick filter replaces an overview drill-down (the two would not read as one filter)."""
        if self._drill is not None:
            self._drill = None
            choice = {**QUICK_CLEARED, **DRILL_CLEARED, **choice}
        self._apply(**choice)

    # ------------------------------------------------------------------ bindings: acting

    def targets(self) -> list[Any]:
        """The marked devices, or the highlighted one."""
        if self.table.marked:
            return [self.marked_rows[i] for i in self.table.marked if i in self.marked_rows]
        row = self.table.cursor_row
        return [row] if row is not None else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide state changes in read-only mode; grey actions the devices cannot take."""
        if action == "filter" and isinstance(self.focused, Input):
            return False  # "/" typed into a field is text (the binding has priority over the field)
        base = super().check_action(action, parameters)
        if base is not True:
            return base
        if action in NEEDS_DEVICE and not self.targets():
            self._reasons[action] = "no device highlighted"
            return None
        if action in ACTIONS and not self._split(ACTIONS[action])[0]:
            self._reasons[action] = "; ".join(sorted({r for _d, r in self._split(ACTIONS[action])[1]}))
            return None  # greyed only when no target can take it; a mixed selection acts on those that can
        return True

    def _split(self, action: Action) -> tuple[list[Any], list[tuple[Any, str]]]:
        """The targets that can take ``action``, and the others with the reason each cannot."""
        can, cannot = [], []
        for d in self.targets():
            reason = backend.refusal_for(self.ctx, d, action)
            if reason is None:
                can.append(d)
            else:
                cannot.append((d, reason))
        return can, cannot

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if (self.ctx.read_only and action in {"lock", "wipe", "reset_passcode", "delete", "edit_asset", "collect",
                                                   "collect_changed"}
                or role_refusal(self, action)):
            return super().disabled_reason(action)
        return self._reasons.get(action, super().disabled_reason(action))

    def refused(self, action: str) -> None:
        """A greyed or hidden device action was pressed: audit the refusal, as the CLI does."""
        if role_refusal(self, action):
            super().refused(action)
        elif action in ACTIONS and self.targets():
            reason = self.disabled_reason(action)
            self._record_refusal([d.id for d in self.targets()], ACTIONS[action], reason)

    @work(thread=True, exit_on_error=False, name="record the refusal")
    def _record_refusal(self, ids: list[int], action: Action, reason: str) -> None:
        backend.record_refusal(self.ctx, ids, action, reason)

    def action_collect(self) -> None:
        """Collect every linkage now."""
        self.app.collect(None)

    def action_collect_changed(self) -> None:
        """Collect only what changed, on every linkage."""
        self.app.collect(None, changed_only=True)

    def action_lock(self) -> None:
        """Lock: yes/no for one device, the list and the count typed for several."""
        self._confirm_and_act(Action.LOCK)

    def action_reset_passcode(self) -> None:
        """Passcode reset: yes/no for one device, the list and the count typed for several."""
        self._confirm_and_act(Action.RESET_PASSCODE)

    def action_wipe(self) -> None:
        """Wipe: type the device's name (several: the count); Intune devices offer Intune's wipe options."""
        self._confirm_and_act(Action.WIPE)

    def _confirm_and_act(self, action: Action) -> None:
        """Confirm for the devices that can take ``action``; the others are listed with their reasons, and
        sent along so that the control service records (and audits) each refusal."""
        devices, cannot = self._split(action)
        everyone = devices + [d for d, _r in cannot]
        not_sent = "".join(f"\n  {_describe(d)} — {reason}" for d, reason in cannot)
        not_sent = f"\n\nNot sent ({len(cannot)}, refused and audited):{not_sent}" if cannot else ""
        options = self._wipe_options(devices) if action == Action.WIPE else ()
        screen: ConfirmScreen | TypedConfirmScreen
        if len(devices) > 1:
            screen = self._bulk_confirm(ACTION_WORDS[action], devices, not_sent, options)
        elif action == Action.WIPE:
            name = device_name(devices[0])
            screen = WipeConfirmScreen(
                f"Wipe {name}?", f"{_describe(devices[0])}\n\nThe device is erased: this cannot be undone.{not_sent}",
                name, f"Type the device's name to wipe it: {name}", options=options)
        else:
            screen = ConfirmScreen(f"{ACTION_WORDS[action]} {device_name(devices[0])}?",
                                   _describe(devices[0]) + not_sent, yes=ACTION_WORDS[action].split()[0], danger=True)

        def confirmed(answer: Any) -> None:
            if answer is None or answer is False:
                return
            wipe = WipeOptions(**answer) if action == Action.WIPE and isinstance(answer, dict) else (
                WipeOptions() if action == Action.WIPE else None)
            if backend.two_person(self.ctx, action):  # the two-person rule: a request, not a send
                self.app.request_approval([d.id for d in devices], action, wipe)  # with the options chosen
                return
            self.notify(f"{backend.action_label(action)}: sending to {plural(len(devices), 'device')}…")
            self.app.act([d.id for d in everyone], action, wipe,
                         on_done=lambda out: self._show_outcomes(action, everyone, out))
        self.app.push_screen(screen, confirmed)

    @staticmethod
    def _wipe_options(devices: list[Any]) -> list[tuple[str, str]]:
        """Intune's wipe options, offered when the wipe goes to an Intune device."""
        if not any(d.os_class in INTUNE_CLASSES for d in devices):
            return []
        return [(key, label.capitalize()) for key, label in backend.wipe_option_labels().items()]

    def _bulk_confirm(self, verb: str, devices: list[Any], not_sent: str = "",
                      options: list[tuple[str, str]] | tuple = ()) -> TypedConfirmScreen:
        listing = "\n".join(_describe(d) for d in devices) + not_sent
        count = str(len(devices))
        title, prompt = f"{verb} {plural(len(devices), 'device')}?", f"Type the number of devices ({count}) to go on"
        if verb == ACTION_WORDS[Action.WIPE]:
            return WipeConfirmScreen(title, listing, count, prompt, options=options)
        return TypedConfirmScreen(title, listing, count, prompt, yes=verb.split()[0])

    def _show_outcomes(self, action: Action, devices: list[Any], outcomes: list[Any]) -> None:
        names = {d.id: device_name(d) for d in devices}
        lines = [outcome_line(names.get(o.device_id) or o.device_name or "?", o) for o in outcomes]
        self.app.push_screen(ResultsScreen(f"{backend.action_label(action).capitalize()}: outcome per device", lines))
        self.table.clear_marks()
        self.marked_rows.clear()
        self._show_count()

    def action_describe(self) -> None:
        """Describe the highlighted device, full screen."""
        from mdmtui.screens.describe import DescribeScreen

        row = self.table.cursor_row
        if row is not None:  # None only while its page loads
            self.app.push_screen(DescribeScreen(row.id))

    def action_follow_up(self) -> None:
        """Ask the MDMs about the pending actions of the marked devices (none marked: of every device)."""
        self.app.follow_up(sorted(cast("set[int]", self.table.marked)) if self.table.marked else None)  # device ids

    def action_delete(self) -> None:
        """Delete device information from mdmtui (not from the MDM)."""
        devices = self.targets()
        if len(devices) > 1:
            screen: Any = self._bulk_confirm("Delete the information of", devices)
        else:
            screen = ConfirmScreen(f"Delete {device_name(devices[0])}'s information?",
                                   f"{_describe(devices[0])}\n\nOnly mdmtui's record is deleted; the device stays "
                                   "in its MDM and comes back at the next collection.", yes="Delete", danger=True)
        ids = [d.id for d in devices]

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._delete(ids)
        self.app.push_screen(screen, confirmed)

    @work(thread=True, exit_on_error=False, name="delete")
    def _delete(self, ids: list[int]) -> None:
        deleted = backend.delete_devices(self.ctx, ids)
        self.app.call_from_thread(self._deleted, deleted)

    def _deleted(self, deleted: int) -> None:
        self.table.clear_marks()
        self.marked_rows.clear()
        self.notify(f"deleted the information of {plural(deleted, 'device')}")
        self.app.data_version += 1

    def action_edit_asset(self) -> None:
        """Edit the highlighted device's asset information."""
        row = self.table.cursor_row
        if row is not None:  # greyed without a device
            self._load_asset(row.id, device_name(row))

    @work(thread=True, exit_on_error=False, name="asset information")
    def _load_asset(self, device_id: int, name: str) -> None:
        current = backend.asset_info(self.ctx, device_id)
        self.app.call_from_thread(self._edit_asset, device_id, name, current)

    def _edit_asset(self, device_id: int, name: str, current: dict[str, str | None]) -> None:
        fields = [(key, label, current.get(key)) for key, label in ASSET_FIELDS]

        def given(values: dict[str, str] | None) -> None:
            if values is not None:
                self._save_asset(device_id, values)
        self.app.push_screen(FormScreen(f"Asset information: {name}", fields), given)

    @work(thread=True, exit_on_error=False, name="save asset information")
    def _save_asset(self, device_id: int, values: dict[str, str]) -> None:
        backend.set_asset_info(self.ctx, device_id, {k: (v.strip() or None) for k, v in values.items()})
        self.app.call_from_thread(self._asset_saved, device_id)

    def _asset_saved(self, device_id: int) -> None:
        self.notify("asset information saved (collections never overwrite it)")
        self._load_detail(device_id)

    def action_export(self) -> None:
        """Export the rows of the current view (CSV or JSON) to the data directory."""

        def chosen(fmt: str | None) -> None:
            if fmt:
                self._export(fmt)
        self.app.push_screen(ChoiceScreen("Export the current view as", [("CSV", "csv"), ("JSON", "json")]), chosen)

    @work(thread=True, exit_on_error=False, name="export")
    def _export(self, fmt: str) -> None:
        done = backend.export_devices(self.ctx, self.view_filter, fmt)
        self.app.call_from_thread(self.notify, f"exported {done.count:,} devices to {done.path}", title="Export",
                                  timeout=12)


def _view_text(view: filterstore.View) -> str:
    """A saved view in one line: its filter, quick filters and order."""
    parts = [view.filter] if view.filter else []
    parts += [f"{label}: {value}" for label, value in (
        ("linkage", view.linkage), ("OS", view.os_class), ("status", view.device_status),
        ("security", "any" if view.security_problem is True else view.security_problem)) if value]
    if view.missing is not None:
        parts.append("missing from MDM" if view.missing else "present in MDM")
    parts.append(f"sorted by {view.sort}{' (descending)' if view.descending else ''}")
    return " · ".join(parts)


def _describe(row: Any) -> str:
    return backend.describe_device(row)
