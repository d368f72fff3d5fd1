"""The console application: screens as modes, the collection and action runners, errors, hang-up."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events
from textual.app import App
from textual.binding import BindingType
from textual.app import SystemCommand
from textual.message import Message
from textual.widgets import Input
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from mdmtui.errors import MdmtuiError
from mdmtui.formatting import plural
from mdmtui.records import Action, Progress, WipeOptions
from mdmtui.screens import backend
from mdmtui.screens.backend import Context
from mdmtui.screens.commands import SCREENS, CommandsProvider, bindings
from mdmtui.widgets.safe import one_line, visible

if TYPE_CHECKING:
    from mdmtui.screens.devices import DevicesScreen

log = logging.getLogger("mdmtui.console")

DEFAULT_START = "overview"  # the screen the console opens on (tests of other screens set theirs)
THEMES = ("textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord", "gruvbox", "solarized-dark")


def _screen(name: str) -> Callable[[], Any]:
    """A mode factory that imports the screen's module on first use (startup stays quick)."""
    def make():
        import importlib

        module = importlib.import_module(f"mdmtui.screens.{name}")
        return getattr(module, f"{name.capitalize()}Screen")()
    return make


def _device_provider() -> type:
    """The palette's devices and linkages (imported when the palette opens)."""
    from mdmtui.screens.goto import DeviceProvider

    return DeviceProvider


class CollectionProgressed(Message):
    """A progress tick of a running collection."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


def freeze_heap() -> None:
    """Move what is alive once the console is on screen (modules, styles, the screens) out of the garbage
    collector's reach: a full collection walks every tracked object, and the console holds about 190,000
    once its screens were opened (a full collection took 120-150 ms at load 3, in the middle of whatever
    keystroke set it off; under a millisecond after the freeze). Only cyclic garbage made before this point
    is never reclaimed (there is next to none); everything later is collected as before. Not in headless
    runs (tests build hundreds of apps in one process: freezing each would keep their garbage)."""
    gc.freeze()


class MdmtuiApp(App[int]):
    """The console. Build it with ``create_app`` so tests and the CLI share one factory."""

    TITLE = "mdmtui"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, Any]] = {name: _screen(name) for name in SCREENS}
    DEFAULT_MODE = DEFAULT_START
    BINDINGS: ClassVar[list[BindingType]] = bindings("app")
    COMMANDS = App.COMMANDS | {CommandsProvider, _device_provider}

    unread_events: reactive[int] = reactive(0)
    pending_requests: reactive[int] = reactive(0)  # two-person-rule requests waiting (the header badge)
    pending_actions: reactive[int] = reactive(0)  # actions not yet final, fleet-wide (the header badge)
    collecting: reactive[dict[str, Progress | None]] = reactive(dict, always_update=True)
    data_version: reactive[int] = reactive(0)  # bumped when devices changed: screens reload
    banner: reactive[str] = reactive("")

    def __init__(self, ctx: Context, *, banner: str = "", poll_seconds: float = 5.0,
                 start: str | None = None) -> None:
        start = start or DEFAULT_START
        if start not in SCREENS:
            raise ValueError(f"unknown screen {start!r}; known: {', '.join(SCREENS)}")
        self.DEFAULT_MODE = start  # type: ignore[misc]  # the screen the console opens on (read per instance)
        super().__init__()
        self.ctx = ctx
        self.banner = banner
        self.poll_seconds = poll_seconds
        self._cancel_collection: asyncio.Event | None = None
        self._stop_actions = asyncio.Event()
        self.hung_up = False

    # ------------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        self.theme = self.ctx.settings.theme if self.ctx.settings.theme in self.available_themes else "textual-dark"
        if self.ctx.settings.keymap:
            self.set_keymap(dict(self.ctx.settings.keymap))
        self.refresh_unread()
        self.set_interval(self.poll_seconds, self.refresh_unread)
        self._watch_hangup()
        if not self.is_headless:
            self.call_after_refresh(freeze_heap)


    def _watch_hangup(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.on_hangup)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests) or no SIGHUP
            pass

    def on_hangup(self) -> None:
        """The SSH session dropped: send nothing new, let in-flight actions record, then leave."""
        log.warning("terminal hung up; finishing in-flight actions before exiting")
        self.hung_up = True
        self._stop_actions.set()
        if self._cancel_collection is not None:
            self._cancel_collection.set()
        self.run_worker(self._exit_when_quiet(), group="hangup", exit_on_error=False)

    async def _exit_when_quiet(self) -> None:
        pending = [w for w in self.workers if w.group == "actions" and w.is_running]
        if pending:
            await asyncio.wait([asyncio.ensure_future(w.wait()) for w in pending], timeout=120)
        self.exit(0)

    # ------------------------------------------------------------------ errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Results of the app's own workers, and every failure (one notification, traceback to the log)."""
        if event.state == WorkerState.SUCCESS and event.worker.node is self:
            self._dispatch_success(event.worker)
        elif event.state == WorkerState.ERROR:
            self.report_error(event.worker.error, what=event.worker.name or "task")

    def _dispatch_success(self, worker: Worker) -> None:
        result: Any = worker.result  # what the worker of that name returns
        if worker.name == "unread":
            self.unread_events = int(result)
        elif worker.name == "requests":
            self.pending_requests = int(result)
        elif worker.name == "pending count":
            self.pending_actions = int(result)
        elif worker.name == "collection":
            self._collection_done(result)
        elif worker.name == "go to device":
            self._went_to_device(*result)
        elif worker.name == "request":
            ids = ", ".join(f"#{r.id}" for r in result)
            self.notify(f"request {ids} stored: another admin approves it on the Requests screen (6) or "
                        "with mdmtui requests approve", title="Waiting for a second admin", timeout=12)
            self.refresh_unread()

    def report_error(self, error: BaseException | None, *, what: str = "task") -> None:
        """Show ``error`` as one line; the details go to the log."""
        if isinstance(error, MdmtuiError):
            log.info("%s failed: %s", what, error, exc_info=error)
            self.notify(one_line(error), title=f"{what} failed", severity="error", timeout=10)
            return
        log.error("%s failed unexpectedly", what, exc_info=error)
        name = type(error).__name__ if error else "error"
        self.notify(f"{name}: {one_line(error)} (details in {self.ctx.settings.log_file})", title=f"{what} failed",
                    severity="error", timeout=15)

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification is plain text: its message may quote a device name, an MDM's or a file's
        words, which must show as written (never parsed as markup, control characters escaped)."""
        super().notify(visible(message, lines=True), title=visible(title), severity=severity, timeout=timeout,
                       markup=False)

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """None: the console's own palette entries cover theme, quit and help (no duplicates)."""
        return iter(())

    def _fatal_error(self) -> None:
        # A bug in a handler ends the console (its state is unknown), but the admin's SSH session gets
        # one line, not a traceback: the traceback goes to the log file.
        from rich.text import Text

        log.error("console stopped by an unexpected error", exc_info=True)
        error = sys.exc_info()[1] or self._exception
        self._exit_renderables.append(Text(
            f"mdmtui: unexpected error: {type(error).__name__}: {error} (details in {self.ctx.settings.log_file})"))
        self._close_messages_no_wait()

    # ------------------------------------------------------------------ events

    def refresh_unread(self) -> None:
        """Count unread events in a worker; the header shows it."""
        self.run_worker(lambda: backend.unread_count(self.ctx), thread=True,
                        group="unread", exclusive=True, exit_on_error=False, name="unread")
        self.run_worker(lambda: backend.pending_request_count(self.ctx), thread=True,
                        group="requests", exclusive=True, exit_on_error=False, name="requests")
        self.refresh_pending()

    def refresh_pending(self) -> None:
        """Count the actions not yet final in a worker; the header shows it."""
        self.run_worker(lambda: backend.pending_action_count(self.ctx), thread=True,
                        group="pending count", exclusive=True, exit_on_error=False, name="pending count")

    def watch_data_version(self) -> None:
        """An action, a follow-up or a collection may have settled or left actions pending."""
        self.refresh_pending()

    # ------------------------------------------------------------------ collection

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Stop collecting is shown only while one runs."""
        if action == "cancel_collection":
            return bool(self.collecting)
        if action == "jump" and isinstance(self.focused, Input):
            return False  # ":" typed into a field is text (os:iOS); the binding has priority over the field
        return True

    def collect(self, names: list[str] | None, *, changed_only: bool = False) -> None:
        """Collect ``names`` (None: every enabled linkage) in the background with progress; ``changed_only``
        lists only the devices whose last contact moved since the last run, and marks nothing missing."""
        if self.ctx.read_only:
            self.notify("read-only mode: collection is disabled", severity="warning")
            return
        if self.collecting:
            self.notify("a collection is already running (x stops it)", severity="warning")
            return
        self._cancel_collection = asyncio.Event()
        self.collecting = {name: None for name in (names or ["all linkages"])}
        self.run_worker(self._collect(names, self._cancel_collection, changed_only), group="collection",
                        name="collection", exit_on_error=False)

    async def _collect(self, names: list[str] | None, cancel: asyncio.Event, changed_only: bool = False) -> list:
        def progress(p: Progress) -> None:
            self.post_message(CollectionProgressed(p))  # thread-safe: collect may tick from a thread

        try:
            summaries = await backend.collect(self.ctx, names, progress=progress, cancel=cancel,
                                              changed_only=changed_only)
        finally:
            self.collecting = {}
            self._cancel_collection = None
        if not cancel.is_set() and any(s.status == "succeeded" for s in summaries):
            await self._follow_up_actions()
        return summaries

    async def _follow_up_actions(self, device_ids: list[int] | None = None, *, asked: bool = False) -> None:
        """Ask the MDMs about pending (and unknown) actions and record what they say (as the CLI does);
        after a collection quietly, on the admin's request (``asked``) with a word either way."""
        try:
            followed = await backend.follow_up_pending(self.ctx, device_ids)  # database work off the loop
        except MdmtuiError as exc:  # the collection itself went fine: say so, and why the follow-up did not
            log.info("follow-up of pending actions failed: %s", exc, exc_info=exc)
            self.notify(f"pending actions not checked: {one_line(exc)}", severity="warning")
            return
        settled = [o for o in followed if o.outcome.value not in ("pending", "unknown")]
        if settled:
            self.notify(f"{plural(len(settled), 'pending action')} settled: {backend.outcomes_line(settled)}",
                        title="Actions followed up", timeout=10)
        elif asked:
            self.notify(f"{plural(len(followed), 'pending action')} asked about; none settled yet"
                        if followed else "no pending action to follow up", title="Actions followed up")
        if followed:
            self.data_version += 1

    def follow_up(self, device_ids: list[int] | None = None) -> None:
        """Follow up the pending actions of these devices (None: of every device) in the background."""
        self.notify("asking the MDMs about pending actions…")
        self.run_worker(self._follow_up_actions(device_ids, asked=True), group="follow-up", exclusive=True,
                        name="follow up pending actions", exit_on_error=False)

    def on_collection_progressed(self, message: CollectionProgressed) -> None:
        """Show the latest tick of a linkage in the progress panel."""
        p = message.progress
        if not self.collecting:
            return
        current = dict(self.collecting)
        current.pop("all linkages", None)
        current[p.linkage] = p
        self.collecting = current

    def action_cancel_collection(self) -> None:
        """Ask the running collection to stop after the current page."""
        if self._cancel_collection is not None:
            self._cancel_collection.set()
            self.notify("stopping the collection…")

    def _collection_done(self, summaries: list) -> None:
        from mdmtui.formatting import summary_line

        self.data_version += 1
        self.refresh_unread()
        self.banner = self.banner.split(":")[0]  # "DEMO: c collects…": the hint is done once collected
        if not summaries:
            self.notify("no linkage to collect: add one on the Linkages screen (2)", severity="warning")
            return
        failed = [s for s in summaries if s.status == "failed"]
        self.notify("\n".join(summary_line(s) for s in summaries), title="Collection finished",
                    severity="error" if failed else "information", timeout=12)

    # ------------------------------------------------------------------ actions

    def act(self, device_ids: list[int], action: Action, options: WipeOptions | None = None,
            on_done: Callable[[list], None] | None = None) -> None:
        """Send ``action`` to the devices in the background; never exclusive (a wipe is never dropped)."""
        self.run_worker(self._act(device_ids, action, options, on_done), group="actions",
                        name=f"{action.value}", exit_on_error=False)

    async def _act(self, device_ids: list[int], action: Action, options: WipeOptions | None,
                   on_done: Callable[[list], None] | None) -> list:
        outcomes = await backend.act(self.ctx, device_ids, action, options=options, cancel=self._stop_actions)
        self.data_version += 1
        self.refresh_unread()
        if on_done is not None and not self.hung_up:
            on_done(outcomes)
        return outcomes

    def request_approval(self, device_ids: list[int], action: Action, options: WipeOptions | None = None) -> None:
        """The two-person rule: ask for a justification, then store a request for another admin."""
        from mdmtui.screens.dialogs import FormScreen
        def asked(values: dict | None) -> None:
            if values is None:
                self.notify("nothing requested, nothing sent", severity="warning")
                return
            self.run_worker(lambda: backend.request_approval(self.ctx, device_ids, action, values["justification"],
                                                            options),
                            thread=True, group="requests-create", exit_on_error=False, name="request")

        self.push_screen(FormScreen(f"{action.value}: a second admin must approve (two-person rule)", [
            ("justification", f"Justification (required, at most {backend.max_justification()} characters)",
             "")]), asked)

    # ------------------------------------------------------------------ jump

    async def on_event(self, event: events.Event) -> None:
        """Every event first; a key goes to an open ``:`` prompt first (``JumpPalette.takes_key``)."""
        from mdmtui.screens.goto import JumpPalette

        if isinstance(event, events.Key) and isinstance(self.screen, JumpPalette) and self.screen.takes_key(event):
            return
        await super().on_event(event)

    def action_jump(self) -> None:
        """``:``: go to a screen, a linkage or a device (any identifier, its user or asset number)."""
        from mdmtui.screens.goto import IDENTIFIERS, JumpPalette, JumpProvider

        self.push_screen(JumpPalette(providers=[JumpProvider],
                                     placeholder=f"Go to a screen, a linkage or a device ({IDENTIFIERS})…"))

    def go_to_device(self, term: str) -> None:
        """Open the device ``term`` names; several: a chooser; none: say so (looked up in a thread)."""
        from mdmtui.screens.goto import LIMIT

        self.run_worker(lambda: (term, backend.find(self.ctx, term, LIMIT)),
                        thread=True, group="go to device", exclusive=True, exit_on_error=False, name="go to device")

    def _went_to_device(self, term: str, found: tuple[list[Any], int]) -> None:
        from mdmtui.screens.goto import IDENTIFIERS, DeviceChooserScreen

        devices, total = found
        if not devices:
            self.notify(f"no device matches '{term}' (give a {IDENTIFIERS})", title="Go to", severity="warning")
        elif total == 1:
            self.show_device(devices[0].id)
        else:
            self.push_screen(DeviceChooserScreen(term, devices, total),
                             lambda chosen: self.show_device(chosen) if chosen is not None else None)

    def show_linkage(self, name: str) -> None:
        """Open the Linkages screen with ``name`` highlighted."""
        self.switch_mode("linkages")
        self.call_later(lambda: getattr(self.screen, "highlight", lambda _n: None)(name))

    def show_device(self, device_id: int) -> None:
        """Open the Devices screen on one device, by its id (from an event, ``:``, the palette)."""
        from mdmtui.screens.devices import DevicesScreen

        def show() -> None:
            devices = next((s for s in self.screen_stack if isinstance(s, DevicesScreen)), None)
            if devices is None:
                return
            while self.screen is not devices and len(self.screen_stack) > 1:  # the describe view, a dialog
                self.pop_screen()
            devices.show_device(device_id)

        self.switch_mode("devices")
        self.call_later(show)

    def drill_down(self, fields: dict[str, Any], title: str | None = None) -> None:
        """Open the Devices screen filtered to exactly ``fields``: an overview count's devices (named
        ``title``), or the Software screen's title or version (named by the filter line)."""
        self.switch_mode("devices")
        self.call_later(lambda: cast("DevicesScreen", self.screen).drill_down(fields, title))

    def action_help(self) -> None:
        """``?``: every binding of this screen and the app."""
        from mdmtui.screens.help import HelpScreen

        self.push_screen(HelpScreen(getattr(self.screen, "SCOPE", "devices")))


def create_app(ctx: Context, **options: Any) -> MdmtuiApp:
    """The console on ``ctx`` (tests pass a test context; the CLI the configured one)."""
    return MdmtuiApp(ctx, **options)
