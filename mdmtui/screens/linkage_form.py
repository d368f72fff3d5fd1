"""Add or edit a linkage: fields per MDM, inline validation as you type, save, save and test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker

from mdmtui.errors import MdmtuiError
from mdmtui.formatting import plural
from mdmtui.screens import backend
from mdmtui.screens.dialogs import ConfirmScreen
from mdmtui.widgets.safe import plain, report_worker_failure
from mdmtui.widgets.field import Field

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp

# (key, label, systems it applies to, secret): the settings every linkage has around each system's own
# options, which come from the system specs (connectors/spec.py, through the linkage service)
_SYSTEMS = tuple(spec.system.value for spec in backend.shown_systems())
_ALL = frozenset(_SYSTEMS)
_HEAD = (("name", "MDM settings name"),
         ("server_url", "Server URL (https://host:port; Intune: Graph base, blank = default)"))
_TAIL = (
    ("ca_bundle", "CA bundle file (blank: system CAs)"),
    ("proxy_url", "Proxy URL (blank: none)"),
    ("timeout_s", "Timeout, seconds"),
    ("page_size", "Page size (blank: the MDM's maximum)"),
    ("schedule_start_at", "Scheduled collection — Start At (local time, e.g. 2026-12-01T09:00; blank: none)"),
    ("schedule_interval", "Repeat Interval (daily, weekly or monthly)"),
    ("schedule_every", "Repeat every N intervals (blank: 1)"),
    ("schedule_weekdays", "Weekdays, weekly only (e.g. mon,thu)"),
    ("schedule_month_day", "Day of the month, monthly only (1-31)"),
    ("changed_start_at", "Changed-only collection — Start At (local time; blank: none)"),
    ("changed_interval", "Changed-only Repeat Interval (hourly, daily, weekly or monthly)"),
    ("changed_every", "Changed-only every N intervals (blank: 1)"),
)
FIELDS: tuple[tuple[str, str, frozenset[str], bool], ...] = (
    *((key, label, _ALL, False) for key, label in _HEAD),
    *((option.name, option.label, systems, option.secret) for option, systems in backend.form_options()),
    *((key, label, _ALL, False) for key, label in _TAIL),
)
# the second, frequent schedule (lists only what changed; marks nothing missing): saved by the schedule
# service, not part of the linkage's own settings
CHANGED_FIELDS = ("changed_start_at", "changed_interval", "changed_every")
SCHEDULE_FIELDS = ("schedule_start_at", "schedule_interval", "schedule_every", "schedule_weekdays",
                   "schedule_month_day")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SYSTEM_CHOICES = tuple((spec.label, spec.system.value) for spec in backend.shown_systems())


MARK = "✗ "  # an error is marked by a sign, not by colour alone


def form_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """Field -> every message from the linkage service's validation ('' key: the form as a whole)."""
    try:
        backend.LinkageInput.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            text = error["msg"].removeprefix("Value error, ")
            # the whole-linkage check joins its problems with "; ": one line each
            errors.setdefault(key, []).extend(text.split("; ") if not key else [text])
        return errors
    return {}


def _schedule_field(message: str) -> str | None:
    """The schedule field a whole-form message is about, if any."""
    words = {"schedule_start_at": "start at", "schedule_interval": "repeat interval",
             "schedule_every": "every n", "schedule_weekdays": "weekdays", "schedule_month_day": "day of the month"}
    return next((key for key, word in words.items() if word in message.lower()), None)


class LinkageFormScreen(ModalScreen[str | None]):
    """The form; dismissed with the saved linkage's name, or None."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    CSS_PATH = "linkage_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="linkage_form.cancel"),
        Binding("ctrl+s", "save", "Save", id="linkage_form.save"),
        Binding("ctrl+t", "save_and_test", "Save and test", id="linkage_form.test"),
    ]

    def __init__(self, settings: dict[str, Any] | None, *, now: Any = None) -> None:
        super().__init__()
        self.now = now  # the preview's "now" (None: the clock); fixed in snapshot tests
        self.settings = settings or {}
        self.original = self.settings.get("name")
        self.system = str(self.settings.get("system", _SYSTEMS[0]))
        self.saved: str | None = None

    def compose(self) -> ComposeResult:
        title = f"Edit linkage {self.original}" if self.original else "Add a linkage"
        with Vertical(id="form"):
            yield Label(plain(title), id="form-title")
            yield Static("", id="form-error")
            with VerticalScroll(id="fields"):
                yield Label("System", classes="field-label")
                yield Select(SYSTEM_CHOICES, value=self.system, allow_blank=False, id="system",
                             disabled=self.original is not None)
                for key, label, _systems, secret in FIELDS:
                    with Vertical(classes="field", id=f"box-{key}"):
                        yield Label(label + (" — leave blank to keep the stored one" if secret and self.original
                                             else ""), classes="field-label")
                        yield Field(self._initial(key, secret), password=secret, id=f"in-{key}")
                        yield Label("", classes="field-error", id=f"err-{key}")
                yield Checkbox("Verify TLS certificates", self.settings.get("verify_tls", True), id="verify_tls")
                yield Checkbox("Enabled (collected by the schedule)", self.settings.get("enabled", True),
                               id="enabled")
            yield Static("", id="schedule-preview")
            yield Static("", id="test-result")
            with Horizontal(id="form-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Save and test (ctrl+t)", id="test")
                yield Button("Cancel (esc)", id="cancel")

    def _initial(self, key: str, secret: bool) -> str:
        if secret:
            return ""  # never put a secret, even masked, into an editable field
        if key in CHANGED_FIELDS:
            plan = self.settings.get("changed_schedule")
            if plan is None:
                return ""
            return {"changed_start_at": plan.start_at.isoformat(sep=" ", timespec="minutes"),
                    "changed_interval": plan.interval, "changed_every": str(plan.every)}[key]
        value = self.settings.get(key)
        if isinstance(value, list):  # weekdays
            return ",".join(WEEKDAY_NAMES[d] for d in value)
        return "" if value is None else str(value)

    def on_mount(self) -> None:
        self._show_fields()
        self._clean = self._state()
        self.query_one("#in-name", Input).focus()

    def _show_fields(self) -> None:
        for key, _label, systems, _secret in FIELDS:
            self.query_one(f"#box-{key}").display = self.system in systems

    @on(Select.Changed, "#system")
    def _system_changed(self, event: Select.Changed) -> None:
        self.system = str(event.value)
        self._show_fields()
        self._validate()

    def _raw(self) -> dict[str, Any]:
        data: dict[str, Any] = {"system": self.system}
        for key, _label, systems, secret in FIELDS:
            if self.system not in systems:
                continue
            value = self.query_one(f"#in-{key}", Input).value
            if secret and self.original and not value:
                continue  # keep the stored secret
            data[key] = value
        return data

    def data(self) -> dict[str, Any]:
        """The form's values for the linkage service (blank secrets left out when editing)."""
        from mdmtui.screens.backend import parse_weekdays

        data = {k: v for k, v in self._raw().items() if k not in CHANGED_FIELDS}
        weekdays = (data.get("schedule_weekdays") or "").strip()
        data["schedule_weekdays"] = parse_weekdays(weekdays) if weekdays else None
        if not data.get("timeout_s"):
            data.pop("timeout_s", None)
        data["verify_tls"] = self.query_one("#verify_tls", Checkbox).value
        data["enabled"] = self.query_one("#enabled", Checkbox).value
        return data

    def changed_schedule(self) -> Any:
        """The changed-only schedule the fields give (None: blank); ``MdmtuiError`` naming the field."""
        from mdmtui.screens.backend import changed_schedule_from_text

        raw = self._raw()
        return changed_schedule_from_text(*(raw.get(k) or "" for k in CHANGED_FIELDS))

    def _changed_errors(self, errors: dict[str, list[str]]) -> None:
        try:
            self.changed_schedule()
        except MdmtuiError as exc:
            text = str(exc)
            field = next((k for k, word in (("changed_interval", "interval"), ("changed_every", "every"))
                          if word in text.split(":")[0]), "changed_start_at")
            errors.setdefault(field, []).append(text)

    @on(Input.Changed)
    def _validate(self) -> dict[str, list[str]]:
        """Every problem at once, each under its field (marked ✗), the others above the fields."""
        errors: dict[str, list[str]] = {}
        try:
            data = dict(self.data())
        except MdmtuiError as exc:  # weekdays that do not parse
            data = {k: v for k, v in self._raw().items() if k != "schedule_weekdays"}
            errors["schedule_weekdays"] = [str(exc)]
        if self.original:  # secrets not retyped are kept as stored: validate as if present
            for key, _label, systems, secret in FIELDS:
                if secret and self.system in systems:
                    data.setdefault(key, "stored")
        for key, messages in form_errors(data).items():
            for message in messages:  # the service reports schedule problems on the whole linkage
                target = (_schedule_field(message) or "") if key == "" else key
                errors.setdefault(target, []).append(message)
        self._changed_errors(errors)
        self._preview(data, errors)
        for key, *_rest in FIELDS:
            bad = errors.get(key, [])
            self.query_one(f"#err-{key}", Label).update(plain("\n".join(MARK + m for m in bad), lines=True))
            self.query_one(f"#box-{key}").set_class(bool(bad), "-invalid")
        self.query_one("#form-error", Static).update(plain("\n".join(MARK + m for m in errors.get("", [])),
                                                           lines=True))
        return errors

    def _preview(self, data: dict[str, Any], errors: dict[str, list[str]]) -> None:
        """The next three scheduled collections, in local time, as the schedule service computes them."""
        from mdmtui.screens import backend as schedule  # the console's door to the schedule service
        from mdmtui.formatting import local_time

        preview = self.query_one("#schedule-preview", Static)
        changed = self._changed_preview(errors)
        if not data.get("schedule_interval") and not data.get("schedule_start_at"):
            preview.update("Scheduled collection: none (collect with c, or set Start At and Repeat Interval)" + changed)
            return
        if any(k in errors for k in SCHEDULE_FIELDS) or errors.get(""):
            preview.update("Scheduled collection: fix the schedule fields to see the next runs" + changed)
            return
        try:
            plan = schedule.build_schedule(
                start_at=data["schedule_start_at"], interval=data["schedule_interval"],
                every=int(data.get("schedule_every") or 1), weekdays=data.get("schedule_weekdays"),
                month_day=int(data["schedule_month_day"]) if data.get("schedule_month_day") else None)
            runs = schedule.preview_runs(plan, 3, now=self.now)
        except (MdmtuiError, ValueError) as exc:
            preview.update(plain(f"Scheduled collection: {exc}") + changed)
            return
        shown = ", ".join(local_time(r) or "" for r in runs) or "no run ahead"
        preview.update(f"Next scheduled collections: {shown}{changed}")

    def _changed_preview(self, errors: dict[str, list[str]]) -> str:
        """The next changed-only runs, on a line of their own (nothing when there is no such schedule)."""
        from mdmtui.formatting import local_time
        from mdmtui.screens import backend as schedule  # the console's door to the schedule service

        if any(k in errors for k in CHANGED_FIELDS):
            return ""
        plan = self.changed_schedule()
        if plan is None:
            return ""
        runs = schedule.preview_runs(plan, 3, now=self.now)
        return "\nNext changed-only collections: " + (", ".join(local_time(r) or "" for r in runs) or "none")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed save or test shows its reason."""
        report_worker_failure(self, event)

    def _state(self) -> tuple:
        """What the admin can change: the system, every field and box."""
        values = tuple(self.query_one(f"#in-{key}", Input).value for key, *_rest in FIELDS)
        return (self.system, values, self.query_one("#verify_tls", Checkbox).value,
                self.query_one("#enabled", Checkbox).value)

    def action_cancel(self) -> None:
        """Close (a linkage saved before testing stays saved); changes not saved are discarded only after
        asking."""
        if self._state() == self._clean:
            self.dismiss(self.saved)
            return

        def discard(yes: bool | None) -> None:
            if yes:
                self.dismiss(self.saved)

        self.app.push_screen(ConfirmScreen("Discard your changes?", "The changes to this linkage are not saved.",
                                           yes="Discard", danger=True), discard)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Validate and save."""
        self._save(test=False)

    @on(Button.Pressed, "#test")
    def action_save_and_test(self) -> None:
        """Save, then connect to the MDM with the saved settings."""
        self._save(test=True)

    @work(exclusive=True, group="linkage-form", exit_on_error=False, name="save linkage")
    async def _save(self, *, test: bool) -> None:
        problems = self._validate()
        if problems:
            count = sum(len(m) for m in problems.values())
            self.query_one("#test-result", Static).update(
                f"Not saved: fix the {plural(count, 'problem')} marked ✗ first.")
            return
        try:
            name = await backend.run_sync(backend.save_linkage, self.app.ctx, self.original, self.data(),
                                          self.changed_schedule())
        except MdmtuiError as exc:
            self.query_one("#form-error", Static).update(plain(str(exc), lines=True))
            return
        self.original = self.saved = name
        self._clean = self._state()
        if test:
            await self._test(name)
            return
        self.dismiss(name)

    async def _test(self, name: str) -> None:
        result = self.query_one("#test-result", Static)
        result.update(plain(f"Saved. Testing the connection to {name}…"))
        try:
            answer = await backend.test_connection(self.app.ctx, name)
        except MdmtuiError as exc:
            result.update(plain(f"Saved, but the connection test failed: {exc}", lines=True))
            return
        result.update(plain(f"Saved. Connection works: {answer}  (esc to close)", lines=True))
