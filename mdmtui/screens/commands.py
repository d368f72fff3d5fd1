"""The one table of commands: it drives the key bindings, the help screen and the command palette."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape


@dataclass(frozen=True)
class Command:
    """One thing the admin can do: its binding id (remappable), default keys and description."""

    id: str
    keys: str
    action: str
    label: str
    help: str
    scope: str  # "app" or a screen's name
    dangerous: bool = False  # changes devices or settings: hidden in read-only mode
    show: bool = True  # shown in the footer
    priority: bool = False


SCREENS = {
    "overview": "Overview",
    "devices": "Devices",
    "linkages": "Linkages",
    "events": "Events",
    "audit": "Audit log",
    "licenses": "Licenses",
    "pending": "Pending actions",
    "requests": "Requests",
    "software": "Software",
}

COMMANDS: tuple[Command, ...] = (
    # anywhere
    Command("app.help", "question_mark", "help", "Help", "List every key binding", "app"),
    Command("app.quit", "q", "quit", "Quit", "Leave the console", "app"),
    # priority, as "/": the palette opens before the next key of a burst is handed on, so it gets them
    Command("app.jump", "colon", "jump", "Go to",
            "Go to a screen, a linkage or a device (serial, IMEI, ICCID, phone, UDID, name, user, asset number)",
            "app", priority=True),
    Command("app.overview", "8", "app.switch_mode('overview')", "Overview",
            "Show the fleet at a glance (the first screen)", "app", show=False),
    Command("app.devices", "1", "app.switch_mode('devices')", "Devices", "Show the devices", "app", show=False),
    Command("app.linkages", "2", "app.switch_mode('linkages')", "Linkages", "Show the linkages", "app", show=False),
    Command("app.events", "3", "app.switch_mode('events')", "Events", "Show the events (what changed)", "app",
            show=False),
    Command("app.audit", "4", "app.switch_mode('audit')", "Audit", "Show the audit log", "app", show=False),
    Command("app.licenses", "5", "app.switch_mode('licenses')", "Licenses", "Show license use", "app", show=False),
    Command("app.pending", "6", "app.switch_mode('pending')", "Pending", "Show the actions not yet final", "app",
            show=False),
    Command("app.requests", "7", "app.switch_mode('requests')", "Requests",
            "Show the requests waiting for a second admin (two-person rule)", "app", show=False),
    Command("app.software", "9", "app.switch_mode('software')", "Software",
            "Show the software across the fleet (titles, versions, devices)", "app", show=False),
    Command("app.cancel_collection", "x", "cancel_collection", "Stop collecting",
            "Cancel the running collection", "app"),
    Command("app.theme", "f2", "change_theme", "Theme", "Choose a colour theme", "app", show=False),
    # devices
    Command("devices.collect", "c", "collect", "Collect", "Collect all linkages now", "devices", dangerous=True),
    Command("devices.collect_changed", "C", "collect_changed", "Changed",
            "Collect only what changed since the last run, on every linkage (marks nothing missing)", "devices",
            dangerous=True, show=False),
    Command("devices.lock", "l", "lock", "Lock", "Lock the highlighted or marked devices", "devices",
            dangerous=True),
    Command("devices.wipe", "w", "wipe", "Wipe", "Wipe (erase) the highlighted or marked devices", "devices",
            dangerous=True),
    Command("devices.reset_passcode", "p", "reset_passcode", "Passcode", "Reset the passcode of the devices",
            "devices", dangerous=True),
    Command("devices.delete", "d", "delete", "Delete", "Delete the devices' information from mdmtui",
            "devices", dangerous=True),
    Command("devices.mark", "space", "mark", "Mark", "Mark or unmark the highlighted device (bulk)", "devices"),
    # priority: the app runs it before it hands on the next key, so a burst after "/" lands in the filter
    Command("devices.filter", "slash", "filter", "Filter",
            "Filter: words, field:value terms, !negation (os:iOS stale:>30d); up/down walk earlier filters",
            "devices", priority=True),
    Command("devices.views", "v", "views", "Views", "Recall, save or delete a saved view (filter, quick filters, "
            "sort)", "devices", show=False),
    Command("devices.save_view", "V", "save_view", "Save view", "Save the current filter, quick filters and sort "
            "under a name", "devices", show=False),
    Command("devices.quick_filter", "f", "quick_filter", "Quick",
            "Filter by linkage, OS class, status, missing, security problem", "devices"),
    Command("devices.sort", "s", "sort", "Sort", "Sort by a column", "devices"),
    Command("devices.columns", "o", "choose_columns", "Columns",
            "Choose the columns shown (remembered in the config file)", "devices", show=False),
    Command("devices.refresh", "r", "refresh", "Refresh", "Reload the devices from the database", "devices"),
    Command("devices.export", "e", "export", "Export", "Export the current view (CSV or JSON)", "devices"),
    Command("devices.asset", "a", "edit_asset", "Asset", "Edit asset number, department, location, user",
            "devices", dangerous=True),
    Command("devices.describe", "enter", "describe", "Describe",
            "Everything about the highlighted device, full screen (y copies a value)", "devices", show=False),
    Command("devices.follow_up", "u", "follow_up", "Pending",
            "Ask the MDMs about pending actions (of the marked devices, else of every device)", "devices"),
    Command("devices.clear", "escape", "clear", "Clear", "Clear the filter and the marks", "devices", show=False),
    # priority, as "/": the focus moves before the next key of a burst is handed on (tab then → → works)
    Command("devices.detail", "tab", "focus_detail", "Detail",
            "Go round the table, the detail pane's tabs and the tab's content", "devices", show=False, priority=True),
    # linkages
    Command("linkages.collect", "c", "collect", "Collect", "Collect the highlighted linkage now", "linkages",
            dangerous=True),
    Command("linkages.collect_changed", "C", "collect_changed", "Changed",
            "Collect only what changed on the highlighted linkage since its last run (marks nothing missing)",
            "linkages", dangerous=True, show=False),
    Command("linkages.add", "n", "add", "New", "Add a linkage", "linkages", dangerous=True),
    Command("linkages.edit", "enter", "edit", "Edit", "Edit the highlighted linkage", "linkages", dangerous=True),
    Command("linkages.test", "t", "test", "Test", "Test the highlighted linkage's connection", "linkages"),
    Command("linkages.remove", "delete", "remove", "Remove", "Remove the highlighted linkage", "linkages",
            dangerous=True),
    Command("linkages.properties", "i", "properties", "SDM file", "Edit sdm_import.properties", "linkages"),
    Command("linkages.refresh", "r", "refresh", "Refresh", "Reload the linkages", "linkages"),
    # events
    Command("events.read", "m", "mark_read", "All read", "Mark every event as read", "events"),
    Command("events.show", "enter", "show_device", "Show device", "Show the event's device", "events"),
    Command("events.refresh", "r", "refresh", "Refresh", "Reload the events", "events"),
    # overview
    Command("overview.open", "enter", "open", "Devices",
            "List exactly the devices of the highlighted count or bar", "overview"),
    Command("overview.refresh", "r", "refresh", "Refresh", "Count again", "overview"),
    Command("overview.collect", "c", "collect", "Collect", "Collect all linkages now", "overview", dangerous=True),
    Command("overview.collect_changed", "C", "collect_changed", "Changed",
            "Collect only what changed since the last run, on every linkage (marks nothing missing)", "overview",
            dangerous=True, show=False),
    # audit, licenses
    Command("audit.refresh", "r", "refresh", "Refresh", "Reload the audit log", "audit"),
    Command("licenses.refresh", "r", "refresh", "Refresh", "Reload license use", "licenses"),
    # requests (two-person rule)
    Command("requests.approve", "a", "approve", "Approve", "Approve the highlighted request and send it",
            "requests", dangerous=True),
    Command("requests.reject", "d", "reject", "Reject", "Reject (or withdraw) the highlighted request",
            "requests", dangerous=True),
    Command("requests.refresh", "r", "refresh", "Refresh", "Reload the requests", "requests"),
    Command("pending.follow_up", "u", "follow_up", "Ask MDMs", "Ask the MDMs about every pending action now",
            "pending"),
    Command("pending.describe", "enter", "describe", "Describe", "Describe the action's device", "pending"),
    Command("pending.refresh", "r", "refresh", "Refresh", "Reload the pending actions", "pending"),
    # software across the fleet
    Command("software.filter", "slash", "filter", "Filter", "Filter the titles by name or vendor", "software",
            priority=True),
    Command("software.devices", "enter", "devices", "Devices",
            "The devices that have the highlighted title (or version, in the versions pane)", "software"),
    Command("software.without", "n", "without", "Without",
            "The devices WITHOUT the highlighted title or version (e.g. missing a required app)", "software"),
    # priority, as on the Devices screen: the focus moves before the next key of a burst is handed on
    Command("software.versions", "tab", "focus_versions", "Versions",
            "Between the titles and the highlighted title's versions (devices per version)", "software",
            show=False, priority=True),
    Command("software.sort", "s", "sort", "Sort", "Sort the titles by a column", "software"),
    Command("software.export", "e", "export", "Export", "Export the current view (CSV or JSON)", "software"),
    Command("software.refresh", "r", "refresh", "Refresh", "Reload the software counts", "software"),
    Command("software.clear", "escape", "clear", "Clear", "Back to the titles, then clear the filter", "software",
            show=False),
    # the describe view (enter on a device)
    Command("describe.close", "escape", "close", "Back", "Back to the list", "describe"),
    Command("describe.copy", "y", "copy", "Copy value", "Copy the highlighted value (OSC 52, works over SSH)",
            "describe"),
    Command("describe.filter", "slash", "filter", "Filter software", "Filter the device's software", "describe"),
    Command("describe.refresh", "r", "refresh", "Refresh", "Read the device again", "describe"),
)

DANGEROUS_ACTIONS = {c.action for c in COMMANDS if c.dangerous}


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of ``scope``, each with its command id (so the keymap can remap it)."""
    return [Binding(c.keys, c.action, c.label, show=c.show, id=c.id, priority=c.priority,
                    tooltip=c.help) for c in COMMANDS if c.scope == scope]


def commands_for(scope: str) -> Iterator[Command]:
    """The commands usable on screen ``scope`` (its own and the app's)."""
    return (c for c in COMMANDS if c.scope in {"app", scope})


def current_keys(command: Command, keymap: dict[str, str]) -> str:
    """The keys a command is bound to now, after the configured keymap."""
    return keymap.get(command.id, command.keys)


class CommandsProvider(Provider):
    """The command palette: every command of the current screen, greyed ones left out with their reason."""

    def _available(self) -> Iterator[tuple[Command, str]]:
        """(command, description): the title is the command's label, the description says what it does
        and, when greyed, why."""
        screen = self.screen
        scope = getattr(screen, "SCOPE", "app")
        for command in commands_for(scope):
            target = self.app if command.scope == "app" else screen
            action = command.action.removeprefix("app.").split("(")[0]
            state = target.check_action(action, ())
            if state is False:
                continue
            description = command.help
            if state is None:
                reason = screen.disabled_reason(action) if hasattr(screen, "disabled_reason") else "not now"
                description += f"  (unavailable: {reason})"
            yield command, description

    def _runner(self, command: Command):
        target = self.app if command.scope == "app" else self.screen
        action = command.action
        if action.startswith("app."):
            return partial(self.app.run_action, action.removeprefix("app."))
        return partial(target.run_action, action)

    async def discover(self) -> Hits:
        """Every command, before anything is typed."""
        for command, description in self._available():
            yield DiscoveryHit(escape(command.label), self._runner(command), help=escape(description))

    async def search(self, query: str) -> Hits:
        """Commands matching what is typed."""
        matcher = self.matcher(query)
        for command, description in self._available():
            # fuzzy on the title; the description only as a plain substring of 4+ characters (fuzzy, or
            # shorter, it matched almost everything)
            in_help = len(query) >= 4 and query.lower() in command.help.lower()
            score = matcher.match(command.label) or (0.1 if in_help else 0)
            if score > 0:
                yield Hit(score, matcher.highlight(command.label), self._runner(command), help=escape(description))
