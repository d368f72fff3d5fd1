"""Going to a device from anywhere: the ``:`` prompt's and the palette's device hits, and the chooser
shown when a term names several devices.

What is typed is looked up off the event loop (``backend.find_devices``: the exact identifiers first,
then the list's text search, at most ``LIMIT`` hits); picking a hit opens the Devices screen on that
device, by its id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual import events
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from mdmtui.screens import backend
from mdmtui.screens.commands import SCREENS
from mdmtui.screens.dialogs import Dialog
from mdmtui.textwidth import fit
from mdmtui.widgets.safe import plain, visible

LIMIT = 10  # device hits per keystroke
ENTER_POLL_S, ENTER_WAIT_S = 0.02, 5.0  # an enter typed ahead of its hits looks for them this often, this long
IDENTIFIERS = "serial, IMEI, ICCID, phone, UDID, name, user or asset number"
# the chooser's columns: (title, width)
CHOOSER_COLUMNS = (("Name", 22), ("Serial", 12), ("Linkage", 13), ("OS", 14))  # 64 cells: fits at 80x24


def _help(text: str) -> Any:
    """A hit's help line, never parsed as markup (Textual's ``escape`` misses some of what a device name
    can hold, and a markup error would end the search): plain content, control characters escaped."""
    return Content(visible(text))


def device_os(device: Any) -> str:
    """The OS class and name, as the chooser and the hits show it."""
    return " ".join(x for x in (device.os_class, device.os_name, device.os_version) if x)


def device_help(device: Any) -> str:
    """What tells devices of one name apart in a hit: serial, IMEI, linkage, OS (plain text)."""
    parts = [f"serial {device.serial_number}" if device.serial_number else "no serial"]
    if device.imei:
        parts.append(f"IMEI {device.imei}")
    parts += [device.linkage_name or "no linkage", device_os(device)]
    return " · ".join(p for p in parts if p)


def chooser_line(device: Any) -> str:
    """One aligned line of the chooser (wide characters measured as two cells)."""
    values = (device.computer_name or "(no name)", device.serial_number or "-", device.linkage_name or "-",
              device_os(device) or "-")
    return " ".join(fit(visible(v), w) for v, (_t, w) in zip(values, CHOOSER_COLUMNS, strict=True))


class JumpPalette(CommandPalette):
    """The ``:`` prompt. Keys typed in the same burst as ``:`` (a paste, a fast typist over SSH) reach the
    palette before its field has the focus; they are put into the field, in order, instead of dropped.

    An enter opens the best hit of what was typed before it, once those hits are in (``:devices⏎`` in one
    burst: the palette's own enter found none yet and did nothing). Keys typed after it wait and then go
    to the screen the palette leaves to, as typed: the field, which takes a burst's keys ahead of the
    palette, would have searched them too. The app hands every key to ``takes_key`` first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._searched = ""  # the text whose search the palette last started
        self._enter = False  # an enter waits for the hits of the text typed before it
        self._waited = 0  # looks at the hits so far (``_open_best_hit``)
        self._after_enter: list[events.Key] = []

    def takes_key(self, event: events.Key) -> bool:
        """Whether the palette takes ``event`` before the app dispatches it (an enter, what follows it)."""
        if self._enter and event.key == "escape":  # no longer wanted: the palette closes as it would
            self._enter = False
            self._after_enter.clear()
            return False
        if self._enter:
            self._after_enter.append(events.Key(event.key, event.character))
            return True
        if event.key != "enter":
            return False
        self._enter, self._waited = True, 0
        self.call_after_refresh(self._open_best_hit)  # once the field has the keys typed before it
        return True

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isprintable():  # the field takes its own keys: not one of them
            self.query_one(Input).insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()

    @on(Input.Changed)
    def _search_started(self, event: Input.Changed) -> None:
        self._searched = event.value.strip()  # the palette's own handler starts that search next

    def _open_best_hit(self) -> None:
        """Open the best hit of the text typed before the enter once its search is over, looking again
        every ``ENTER_POLL_S`` (up to ``ENTER_WAIT_S``: then the palette stays, with what came after)."""
        if not self._enter or not self.is_attached:
            return
        searching = any(w.group == self._GATHER_COMMANDS_GROUP and not w.is_finished for w in self.workers)
        hits = self.query_one(CommandList)
        if searching or self._searched != self.query_one(Input).value.strip() or not hits.option_count:
            self._waited += 1
            if self._waited * ENTER_POLL_S < ENTER_WAIT_S:
                self.set_timer(ENTER_POLL_S, self._open_best_hit)
                return
        self._enter = False
        if hits.option_count:
            hits.highlighted = hits.highlighted or 0
            hits.action_select()  # the palette's own choice: it closes and runs the hit
            return
        keys, self._after_enter = self._after_enter, []  # nothing to open: the keys after it are the palette's
        for key in keys:
            self.app.post_message(key)

    def on_unmount(self) -> None:
        keys, self._after_enter = self._after_enter, []
        if keys:  # after the hit's own call (queued when the palette closed): to the screen it leaves to
            self.app.call_later(lambda: [self.app.post_message(key) for key in keys])


class DeviceChooserScreen(Dialog):
    """Several devices match what was typed: pick one (enter), or esc. Dismissed with its id or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, term: str, devices: Sequence[Any], total: int) -> None:
        super().__init__()
        self.term, self.devices, self.total = term, list(devices), total

    def compose(self) -> ComposeResult:
        shown = len(self.devices)
        more = f" (the first {shown} by name: type more to narrow)" if self.total > shown else ""
        with Vertical(classes="dialog wide", id="device-chooser"):
            yield Label(plain(f"{self.total} devices match '{self.term}'{more}: choose one"),
                        classes="dialog-title")
            yield Label(" ".join(fit(t, w) for t, w in CHOOSER_COLUMNS), classes="field-label")
            yield OptionList(*[Option(plain(chooser_line(d)), id=str(i)) for i, d in enumerate(self.devices)],
                             id="choices")
            yield Label("enter: open it on the Devices screen · esc: cancel", classes="field-label")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = 0
        choices.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.devices[event.option_index].id)


class DeviceProvider(Provider):
    """The palette's device hits (and linkages): anything typed that names or holds a device's identifier."""

    # The palette offers only devices a term names exactly (its hits stay relevant: "lock" finds the
    # command, not every device whose text holds it); ``:`` also the screens, partial matches and a no-match.
    SCREENS: ClassVar[bool] = False

    async def _wait_init(self) -> None:
        """Textual's wait for ``startup``, shielded: a search cancelled by the next keystroke of a burst
        (a paste right after ``:``) cancelled the startup it waited on, and every later search of that
        prompt then found nothing (Textual 8 sets a provider up only if its startup ran to the end)."""
        if self._init_task is not None:
            await asyncio.shield(self._init_task)

    async def startup(self) -> None:
        """The linkage names, read once when the prompt opens."""
        app: Any = self.app  # the console (a Provider types it as any App)
        self.linkages: list[str] = await asyncio.to_thread(backend.linkage_names, app.ctx)

    def _places(self) -> list[tuple[str, Any, str]]:
        """(title, callback, help) of the screens (``:`` only) and linkages."""
        app: Any = self.app
        places: list[tuple[str, Any, str]] = []
        if self.SCREENS:
            places += [(f"Go to {title}", lambda n=name: app.switch_mode(n), f"screen {name}")
                       for name, title in SCREENS.items()]
        places += [(f"Linkage {visible(name)}", lambda n=name: app.show_linkage(n), "linkage")
                   for name in getattr(self, "linkages", [])]
        return places

    async def discover(self) -> Hits:
        """The screens and linkages, before anything is typed (``:`` only)."""
        if not self.SCREENS:
            return
        for title, callback, help_text in self._places():
            yield DiscoveryHit(plain(title), callback, help=_help(help_text))

    async def search(self, query: str) -> Hits:
        """Screens and linkages by fuzzy name; devices by what is typed (looked up in a thread)."""
        matcher = self.matcher(query)
        for title, callback, help_text in self._places():
            score = matcher.match(title)
            if score > 0:  # a linkage's name is the admin's text: shown as written, never parsed as markup
                yield Hit(score, plain(title), callback, text=title, help=_help(help_text))
        term = query.strip()
        if len(term) < backend.MIN_FIND_TERM:
            return
        app: Any = self.app
        found = await asyncio.to_thread(backend.find_devices, app.ctx, term, LIMIT)
        if found.total > 1:
            yield Hit(1.0, plain(f"{found.total} devices match '{term}': choose one"),
                      lambda: app.go_to_device(term), text=term,
                      help=_help(", ".join(d.computer_name or "(no name)" for d in found.exact[:3])))
        for rank, device in enumerate(found.exact):
            yield self._device_hit(0.99 - rank / 1000, device)
        if not self.SCREENS:
            return
        for rank, device in enumerate(found.partial):
            yield self._device_hit(0.5 - rank / 1000, device)
        if not found.exact and not found.partial:
            yield Hit(0.05, plain(f"No device matches '{term}'"), lambda: app.go_to_device(term), text=term,
                      help=_help(f"give a {IDENTIFIERS}"))

    def _device_hit(self, score: float, device: Any) -> Hit:
        app: Any = self.app
        name = device.computer_name or "(no name)"
        return Hit(score, Text.assemble("Device ", plain(name, "bold")), lambda i=device.id: app.show_device(i),
                   text=visible(name), help=_help(device_help(device)))


class JumpProvider(DeviceProvider):
    """``:``: a screen, a linkage or a device."""

    SCREENS: ClassVar[bool] = True
