"""Going to a device from anywhere (issue 14): ``:`` and the palette take a screen, a linkage or any
device identifier — serial, IMEI in any grouping, phone in national form, UDID, user, asset number — and
open that device by its id; several matches give a chooser, none a notification."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette, CommandList
from tui_helpers import devices_table, notifications, screen_text, settle

from mdmtui import identifiers
from mdmtui.storage.models import AssetInfo, Device
from mdmtui.screens.app import create_app
from mdmtui.screens.goto import DeviceChooserScreen


async def go_to(pilot, term: str, *, opener: str = "colon") -> None:
    """Open the prompt, type ``term`` key by key, wait for the hits, press enter (on the best one)."""
    await pilot.press(opener)
    await settle(pilot)
    await pilot.press(*list(term))
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press("enter")
    await settle(pilot)


def hits(app) -> list[str]:
    """The palette's hits, their first line (the help text left out)."""
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]


def shown_device(app) -> int | None:
    """The id of the one device the Devices screen shows (by id, not by a name filter)."""
    assert app.current_mode == "devices"
    table = devices_table(app)
    assert app.screen.source.filter.device_id is not None and table.row_count == 1
    return table.cursor_row.id


def a_phone_device(ctx) -> Device:
    with ctx.db.connection_context():
        return (Device.select().where(Device.phone_number.startswith("+81"), Device.imei.is_null(False),
                                      Device.serial_number.is_null(False), Device.udid.is_null(False))
                .order_by(Device.id).first())


@pytest.mark.parametrize("form", ["serial", "dashed imei", "national phone", "udid", "asset number", "user"])
async def test_colon_with_an_identifier_opens_that_device(fleet, form):
    target = a_phone_device(fleet)
    assert target is not None
    with fleet.db.connection_context():
        AssetInfo.create(device=target.id, asset_number="PC-2026-0042", assigned_user="kimura.s")
    imei = target.imei
    term = {
        "serial": target.serial_number.lower(),
        "dashed imei": f"{imei[:2]}-{imei[2:8]}-{imei[8:14]}-{imei[14:]}",
        "national phone": identifiers.national(target.phone_number),
        "udid": target.udid.lower(),
        "asset number": "pc-2026-0042",
        "user": "Kimura.S",
    }[form]
    app = create_app(fleet, start="events")  # from another screen: the Devices screen opens on it
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await go_to(pilot, term)
        assert shown_device(app) == target.id


async def test_the_palette_finds_a_device_by_its_imei_too(fleet):
    target = a_phone_device(fleet)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await go_to(pilot, " ".join([target.imei[:2], target.imei[2:8], target.imei[8:14], target.imei[14:]]),
                    opener="ctrl+p")
        assert shown_device(app) == target.id


async def test_colon_from_the_describe_view_opens_the_device(fleet):
    target = a_phone_device(fleet)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the describe view of the first device
        await settle(pilot)
        await go_to(pilot, target.serial_number)
        assert shown_device(app) == target.id


async def test_an_ambiguous_term_shows_a_chooser_and_enter_opens_the_chosen_one(fleet):
    with fleet.db.connection_context():
        first, second, third = Device.select().order_by(Device.id).limit(3)
        Device.update(user_name="sato.k").where(Device.id.in_([first.id, third.id])).execute()
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *list("sato.k"))
        await settle(pilot)
        assert hits(app)[0] == "2 devices match 'sato.k': choose one"
        await pilot.press("enter")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, DeviceChooserScreen)
        text = screen_text(app)
        assert "2 devices match 'sato.k'" in text
        for dev in (first, third):
            assert dev.computer_name in text and dev.serial_number in text and dev.linkage_name in text
        assert [d.id for d in chooser.devices] == sorted([first.id, third.id], key=lambda i: (
            {first.id: first, third.id: third}[i].computer_name.lower(), i))
        await pilot.press("down", "enter")  # the second line
        await settle(pilot)
        assert shown_device(app) == chooser.devices[1].id


async def test_an_unknown_term_says_so(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await go_to(pilot, "no-such-device-zz9")
        assert app.current_mode == "devices" and app.screen.source.filter.device_id is None
        assert any("no device matches 'no-such-device-zz9'" in n for n in notifications(app))


async def test_typing_offers_device_hits_live_and_bounded(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("colon", "i", "p", "h")  # a part of many names: at most ten device hits
        await settle(pilot)
        device_hits = [h for h in hits(app) if h.startswith("Device ")]
        assert 1 <= len(device_hits) <= 10
        await pilot.press("escape")
        await pilot.press("colon", "d", "e", "v")  # a screen by its name still works
        await settle(pilot)
        assert hits(app)[0] == "Go to Devices"


async def test_hostile_names_are_shown_as_written_in_the_hits_and_the_chooser(fleet):
    hostile = "[bold red]x[/] \x1b[31mred\x07 [link=http://evil]"
    with fleet.db.connection_context():
        ids = [d.id for d in Device.select().order_by(Device.id).limit(2)]
        Device.update(computer_name=hostile, user_name="mallory").where(Device.id.in_(ids)).execute()
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *list("mallory"))
        await settle(pilot)
        shown = screen_text(app)
        assert "[bold red]x[/] \\x1b[31mred\\x07" in shown and "\x1b" not in shown
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DeviceChooserScreen)
        shown = screen_text(app)  # the name column is cut (with an ellipsis), never parsed
        assert shown.count("[bold red]x[/] \\x1b[3…") == 2 and "\x1b" not in shown and "\x07" not in shown


async def test_colon_and_what_follows_in_one_burst_all_land_in_the_prompt(fleet):
    """A paste or a fast typist over SSH: ':' and the term arrive together; no key is lost, and a ':'
    typed in the filter prompt stays text (os:iOS)."""
    from textual.widgets import Input
    from tui_helpers import burst

    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await burst(pilot, "colon", "0", "9", "0", "-", "1", "9")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        assert app.screen.query_one(Input).value == "090-19"
        await pilot.press("escape")
        await settle(pilot)
        await burst(pilot, "slash", "o", "s", "colon", "i", "O", "S")
        await settle(pilot)
        assert not isinstance(app.screen, CommandPalette)
        assert app.screen.query_one("#filter", Input).value == "os:iOS"


async def test_colon_a_term_and_enter_in_one_burst_open_it_and_what_follows_goes_on(fleet):
    """':devices⏎' pasted or typed fast: the enter waits for the hits of what came before it and opens the
    best one (it did nothing before, the hits not in yet), and keys after it reach the screen it opened,
    not the prompt's search. A device's serial likewise: the searches a burst cancels one after another
    no longer cancel the prompt's set-up with them (every search of that prompt found nothing then)."""
    from textual.widgets import Input
    from tui_helpers import burst

    target = a_phone_device(fleet)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("8")  # the Overview
        await settle(pilot)
        await burst(pilot, "colon", *"devices", "enter", "slash", *"os", "colon", *"iOS")
        await _palette_closed(pilot)
        assert app.current_mode == "devices" and not isinstance(app.screen, CommandPalette)
        assert app.screen.query_one("#filter", Input).value == "os:iOS"
        await pilot.press("escape", "8")
        await settle(pilot)
        await burst(pilot, "colon", *target.serial_number.lower(), "enter")
        await _palette_closed(pilot)
        assert shown_device(app) == target.id


async def _palette_closed(pilot) -> None:
    """Settle until the palette has opened its hit (it looks for its hits every 20 ms), at most 5 s."""
    for _ in range(100):
        await settle(pilot)
        if not isinstance(pilot.app.screen, CommandPalette):
            await settle(pilot)
            return
        await pilot.pause(0.05)
