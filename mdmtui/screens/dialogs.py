"""Modal dialogs: confirmations in tiers (yes/no, type the name, type the count), results, choices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from mdmtui.widgets.safe import plain, report_worker_failure
from mdmtui.widgets.field import Field


class Dialog(ModalScreen):
    """A centred box; escape cancels."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def action_cancel(self) -> None:
        """Close without doing anything."""
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of the dialog shows its reason."""
        report_worker_failure(self, event)


class ConfirmScreen(Dialog):
    """Yes / no (lock, passcode reset, delete of one device)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "No", id="dialog.no"),
        Binding("y", "confirm", "Yes", id="dialog.yes"),
    ]

    def __init__(self, title: str, body: str, *, yes: str = "Yes", danger: bool = False) -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.danger = title, body, yes, danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            yield Static(plain(self.body, lines=True), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        """Yes."""
        self.dismiss(True)

    def action_cancel(self) -> None:
        """No."""
        self.dismiss(False)


class TypedConfirmScreen(Dialog):
    """Type ``expected`` to go on (wipe: the device's name; bulk: the number of devices)."""

    CANCELLED: ClassVar[Any] = False

    def __init__(self, title: str, body: str, expected: str, prompt: str, *, yes: str = "Confirm") -> None:
        super().__init__()
        self.title_text, self.body, self.expected, self.prompt, self.yes = title, body, expected, prompt, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-list"):
                yield Static(plain(self.body, lines=True), classes="dialog-body")
            yield Label(plain(self.prompt), classes="dialog-prompt")
            yield Field(id="typed", placeholder=self.expected if len(self.expected) < 4 else "")
            yield Label("", id="mismatch", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, id="yes", variant="error")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _submit(self) -> None:
        typed = self.query_one("#typed", Input).value.strip()
        if typed == self.expected:
            self.dismiss(self.confirmed())
            return
        self.query_one("#mismatch", Label).update(plain(f"That does not match. Type exactly: {self.expected}"))

    def confirmed(self) -> Any:
        """What the dialog answers when the typed text matches."""
        return True

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        """Cancel."""
        self.dismiss(self.CANCELLED)


class WipeConfirmScreen(TypedConfirmScreen):
    """The wipe's typed confirmation; for Intune devices also Intune's wipe options (all off: erase
    everything). Dismissed with the options chosen, or None."""

    CANCELLED: ClassVar[Any] = None

    def __init__(self, title: str, body: str, expected: str, prompt: str, *,
                 options: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(title, body, expected, prompt, yes="Wipe")
        self.options = list(options)  # (WipeOptions field, label)

    def on_mount(self) -> None:
        dialog = self.query_one(".dialog", Vertical)
        if self.options:
            boxes: list[Widget] = [Label("Intune wipe options (space toggles; other MDMs erase everything):",
                           classes="dialog-prompt")]
            boxes += [Checkbox(label, False, id=f"opt-{key}") for key, label in self.options]
            dialog.mount_all(boxes, before=self.query_one(".dialog-prompt", Label))
        super().on_mount()

    def chosen(self) -> dict[str, bool]:
        """The options ticked."""
        return {key: self.query_one(f"#opt-{key}", Checkbox).value for key, _label in self.options}

    def confirmed(self) -> Any:
        """The options chosen (an empty dict when none is offered)."""
        return self.chosen()


class ResultsScreen(Dialog):
    """Per-device outcomes of an action (or any list of lines); any key closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "cancel", "Close", id="dialog.close")]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self.title_text, self.lines = title, list(lines)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(plain(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-list"):
                yield Static(plain("\n".join(self.lines) or "(nothing)", lines=True), id="results")
            yield Button("Close (enter)", id="close")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed)
    def _close(self) -> None:
        self.dismiss(None)


class ChoiceScreen(Dialog):
    """Pick one of a few options (sort column, export format…)."""

    def __init__(self, title: str, options: Sequence[tuple[str, Any]], *, current: Any = None) -> None:
        super().__init__()
        self.title_text, self.options, self.current = title, list(options), current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            yield OptionList(*[Option(plain(label), id=str(i)) for i, (label, _v) in enumerate(self.options)],
                             id="choices")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        values = [v for _l, v in self.options]
        if self.current in values:
            choices.highlighted = values.index(self.current)
        choices.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[event.option_index][1])


class FormScreen(Dialog):
    """A few labelled text fields; returns the values (or None when cancelled)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "save", "Save", id="dialog.save"),
    ]

    def __init__(self, title: str, fields: Sequence[tuple[str, str, str | None]]) -> None:
        super().__init__()
        self.title_text, self.fields = title, list(fields)  # (key, label, value)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-form"):
                for key, label, value in self.fields:
                    yield Label(label, classes="field-label")
                    yield Field(value or "", id=f"f-{key}")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        # the cursor starts in the first field: what the admin types at once must land somewhere
        if self.fields:
            self.query_one(f"#f-{self.fields[0][0]}", Input).focus()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Return the values typed, or None (as for cancel) when nothing changed."""
        values = {key: self.query_one(f"#f-{key}", Input).value for key, _l, _v in self.fields}
        unchanged = all(values[key] == (value or "") for key, _l, value in self.fields)
        self.dismiss(None if unchanged else values)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _next(self) -> None:
        self.focus_next()


class ChecklistScreen(Dialog):
    """Tick some of a list (the device table's columns): space or enter toggles, ctrl+s applies, esc
    cancels. Dismissed with the values ticked, in the list's order, or None. Each line says ``[x]`` or
    ``[ ]``: the state is never told by colour alone."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "save", "Apply", id="dialog.save"),
        Binding("space", "toggle", "Tick", id="dialog.toggle"),
    ]

    def __init__(self, title: str, options: Sequence[tuple[str, Any, bool]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = [(label, value) for label, value, _t in options]
        self.ticked = [ticked for _l, _v, ticked in options]

    def _prompt(self, index: int) -> Any:
        return plain(f"[{'x' if self.ticked[index] else ' '}] {self.options[index][0]}")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="checklist"):
            yield Label(plain(self.title_text), classes="dialog-title")
            yield Label("space or enter ticks · ctrl+s applies · esc cancels", classes="field-label")
            yield OptionList(*[Option(self._prompt(i), id=str(i)) for i in range(len(self.options))], id="checks")

    def on_mount(self) -> None:
        checks = self.query_one(OptionList)
        checks.highlighted = 0
        checks.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._toggle(event.option_index)

    def action_toggle(self) -> None:  # type: ignore[override]  # the list's own action, not DOMNode's
        """Tick or untick the highlighted line."""
        index = self.query_one(OptionList).highlighted
        if index is not None:
            self._toggle(index)

    def _toggle(self, index: int) -> None:
        self.ticked[index] = not self.ticked[index]
        self.query_one(OptionList).replace_option_prompt_at_index(index, self._prompt(index))

    def action_save(self) -> None:
        """The values ticked."""
        self.dismiss([value for (_l, value), ticked in zip(self.options, self.ticked, strict=True) if ticked])
