"""Describe one device, full screen: every item (spec names), security problems, pending actions,
history, audit and software (filterable); every line keyboard-reachable, ``y`` copies its value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker

from mdmtui.formatting import NOT_COLLECTED, local_time, shown
from mdmtui.screens import backend
from mdmtui.screens.commands import bindings
from mdmtui.textwidth import fit, width
from mdmtui.widgets.detail import item_name
from mdmtui.widgets.field import Field
from mdmtui.widgets.safe import plain, report_worker_failure, visible

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp

Line = tuple[str, str, str]  # (kind: "head" | "item" | "text", label, value)


def _items(title: str, pairs: list[tuple[str, Any]]) -> list[Line]:
    return [("head", title, "")] + [("item", label, shown(value, title)) for label, value in pairs]


def describe_lines(d: backend.Description, software_text: str = "") -> list[Line]:
    """The view's lines, in order: security, items by group, pending actions, history, audit, software."""
    detail = d.detail
    lines: list[Line] = [("head", "Security problems", "")]
    lines += [("item", "Problem", flag) for flag in detail.flags] or [("text", "", "no problem known")]
    for group, pairs in detail.groups.items():
        lines += _items(group, pairs)
    lines.append(("head", "Pending actions", ""))
    lines += [("item", f"{a.action} ({a.outcome})", f"{local_time(a.requested_at)} by {a.os_user}@{a.host}"
               + (f" — {a.message}" if a.message else "")) for a in d.pending] or [("text", "", "none")]
    lines.append(("head", "History", ""))
    lines += [("item", f"{local_time(h.at)} {item_name(h.field)}",
               f"{h.old_value or NOT_COLLECTED} → {h.new_value or NOT_COLLECTED}") for h in detail.history] \
        or [("text", "", "no changes recorded")]
    lines.append(("head", "Audit", ""))
    lines += [("item", f"{local_time(e.at)} {e.action}", f"{e.outcome} by {e.os_user}@{e.host}"
               + (f" — {e.message}" if e.message else "")) for e in detail.audit] or [("text", "", "no actions")]
    count = f"{len(d.software):,} of {d.software_total:,}" if len(d.software) < d.software_total else \
        f"{d.software_total:,}"
    lines.append(("head", f"Software ({count}{f' matching {software_text!r}' if software_text else ''}; / filters)",
                  ""))
    lines += [("item", s.name or NOT_COLLECTED, " ".join(x for x in (s.version, s.vendor) if x))
              for s in d.software] or [("text", "", "no software matches" if software_text else "none collected")]
    return lines


def _prompt(line: Line, label_width: int) -> Text:
    kind, label, value = line
    if kind == "head":
        return plain(label, "bold underline")
    text = plain(fit(visible(label), label_width) + "  ", "dim") if kind == "item" else Text("  ")
    text.append_text(plain(value, "dim italic" if value == NOT_COLLECTED else ""))
    return text


class DescribeScreen(Screen[None]):
    """Pushed over the Devices screen by ``enter``; ``esc`` goes back."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    SCOPE = "describe"
    BINDINGS: ClassVar[list[BindingType]] = bindings("describe")
    DEFAULT_CSS = """
    DescribeScreen #describe-title { height: 1; background: $panel; text-style: bold; padding: 0 1; width: 100%; }
    DescribeScreen #describe-filter { height: 1; border: none; padding: 0 1; display: none; }
    DescribeScreen.-filtering #describe-filter { display: block; }
    DescribeScreen #describe-lines { height: 1fr; border: none; }
    """

    def __init__(self, device_id: int) -> None:
        super().__init__()
        self.device_id = device_id
        self.lines: list[Line] = []

    def compose(self) -> ComposeResult:
        yield Label("Loading…", id="describe-title")
        yield Field(placeholder="filter software (enter: back to the list)", id="describe-filter")
        yield OptionList(id="describe-lines")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.query_one(OptionList).focus()

    def action_refresh(self) -> None:
        """Read the device again."""
        self._load(self.query_one("#describe-filter", Input).value.strip())

    @work(thread=True, exclusive=True, exit_on_error=False, name="describe device")
    def _load(self, software_text: str) -> None:
        description = backend.describe(self.app.ctx, self.device_id, software_text)
        self.app.call_from_thread(self._show, description, software_text)

    def _show(self, description: backend.Description, software_text: str) -> None:
        detail = description.detail
        problems = f" · security: {', '.join(detail.flags)}" if detail.flags else ""
        self.query_one("#describe-title", Label).update(plain(f"{detail.title}{problems}  (esc: back · y: copy)"))
        self.lines = describe_lines(description, software_text)
        label_width = min(max((width(visible(line[1])) for line in self.lines if line[0] == "item"), default=10), 40)
        options = self.query_one(OptionList)
        keep = options.highlighted
        options.clear_options()
        options.add_options([Option(_prompt(line, label_width), id=str(i), disabled=line[0] != "item")
                             for i, line in enumerate(self.lines)])
        options.highlighted = keep if keep is not None and keep < len(self.lines) else self._first_item()

    def _first_item(self) -> int | None:
        return next((i for i, line in enumerate(self.lines) if line[0] == "item"), None)

    def highlighted_line(self) -> Line | None:
        """The line under the cursor."""
        index = self.query_one(OptionList).highlighted
        return self.lines[index] if index is not None and index < len(self.lines) else None

    def action_copy(self) -> None:
        """Copy the highlighted value to the clipboard (OSC 52: works over SSH, in tmux with set-clipboard)."""
        line = self.highlighted_line()
        if line is None or line[0] != "item":
            self.notify("nothing to copy here", severity="warning")
            return
        self.app.copy_to_clipboard(line[2])
        self.notify(f"copied {line[1]}: {line[2]}")

    def action_filter(self) -> None:
        """Show and focus the software filter."""
        self.add_class("-filtering")
        self.query_one("#describe-filter", Input).focus()

    @on(Input.Changed, "#describe-filter")
    def _filtered(self) -> None:
        self.action_refresh()

    @on(Input.Submitted, "#describe-filter")
    def _filter_done(self) -> None:
        self.query_one(OptionList).focus()

    def action_close(self) -> None:
        """Back to where ``enter`` was pressed (the filter first, when it has focus)."""
        if self.query_one("#describe-filter", Input).has_focus:
            self.query_one(OptionList).focus()
            return
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``/`` and ``y`` typed into the software filter are text."""
        if action in {"copy", "filter", "refresh"} and isinstance(self.focused, Input):
            return False
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read says why."""
        report_worker_failure(self, event)
