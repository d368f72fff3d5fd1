"""Roles and the two-person rule in the console: greyed keys say why; a wipe becomes a request that
another admin approves on the Requests screen, and exactly one wipe reaches the MDM."""

from __future__ import annotations

import dataclasses

from textual.widgets import Input
from tui_helpers import device, highlight, notifications, settle

from mdmtui.config import RoleSettings
from mdmtui.storage.models import ApprovalRequest, AuditEvent, DeviceAction
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import FormScreen, ResultsScreen, TypedConfirmScreen
from mdmtui.services.lookup import confirm_label


def as_user(ctx, user: str, **role_settings):
    settings = ctx.settings.model_copy(update={"roles": RoleSettings(**role_settings)})
    return dataclasses.replace(ctx, os_user=user, settings=settings)


def wipes_sent(sim) -> int:
    return sum(1 for m, meth, path, _ in list(sim.requests_log)
               if m == "mobileiron" and meth == "PUT" and "/api/v2/devices/wipe" in path)


async def test_a_viewer_sees_actions_greyed_and_each_key_says_why(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["japanese_names"])
    ctx = as_user(fleet, "vera", users={"vera": "viewer"})
    app = create_app(ctx, poll_seconds=60)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, ctx, target)
        for key in ("l", "w", "p", "d", "c", "a"):
            await pilot.press(key)
        await pilot.pause()
        assert app.screen.__class__.__name__ == "DevicesScreen"  # no dialog opened
        said = notifications(app)
        assert len(said) == 6 and all("permission denied" in m and "vera is viewer" in m for m in said), said
        assert any("wipe needs the admin role" in m for m in said)
        assert any("lock needs the operator role" in m for m in said)
    await app.workers.wait_for_complete()
    with fleet.db.connection_context():
        assert DeviceAction.select().count() == 0  # nothing sent, nothing pretended
        access = AuditEvent.select().where(AuditEvent.category == "access", AuditEvent.outcome == "refused")
        assert sorted(e.action for e in access) == sorted(["lock", "wipe", "reset_passcode", "delete", "collect",
                                                           "asset_edit"])
        assert {e.os_user for e in access} == {"vera"}


async def test_wipe_becomes_a_request_that_another_admin_approves(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["sim_swap_candidate"])
    roles = {"users": {"alice": "admin", "bob": "admin"}}
    alice = as_user(fleet, "alice", **roles)
    app = create_app(alice, poll_seconds=60)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, alice, target)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        app.screen.query_one("#typed", Input).value = confirm_label(target)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        app.screen.query_one("#f-justification", Input).value = "lost in Shinjuku, ticket 881"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
        assert "requests: 1" in str(app.screen.query_one("AppHeader").render())
    assert wipes_sent(sim) == 0
    with fleet.db.connection_context():
        [req] = ApprovalRequest.select()
        assert (req.requested_by, req.justification, req.state) == ("alice", "lost in Shinjuku, ticket 881", "pending")

    bob = as_user(fleet, "bob", **roles)
    app = create_app(bob, poll_seconds=60, start="requests")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TypedConfirmScreen) and "unchanged since the request" in dialog.body
        dialog.query_one("#typed", Input).value = dialog.expected
        await pilot.press("enter")
        await settle(pilot, 8)
        assert isinstance(app.screen, ResultsScreen), notifications(app)
    assert wipes_sent(sim) == 1
    with fleet.db.connection_context():
        req = ApprovalRequest.get_by_id(req.id)
        assert req.state == "approved" and req.decided_by == "bob" and req.action_id is not None


async def test_the_requester_cannot_approve_their_own_in_the_console(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["sim_swap_candidate"])
    alice = as_user(fleet, "alice", users={"alice": "admin"})
    from mdmtui.records import Action
    from mdmtui.services import approvals

    with fleet.db.connection_context():
        approvals.create(alice, [target.id], Action.WIPE, "lost")
    app = create_app(alice, poll_seconds=60, start="requests")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, TypedConfirmScreen)
        assert any("another admin must approve it" in m for m in notifications(app))
    assert wipes_sent(sim) == 0


async def test_an_operator_cannot_save_sdm_import_properties(tui_ctx):
    from textual.widgets import TextArea
    from test_tui_properties import _open_editor, _sdm

    from mdmtui.storage.models import AuditEvent

    _sdm(tui_ctx)
    ctx = as_user(tui_ctx, "olga", users={"olga": "operator"})
    app = create_app(ctx, start="linkages")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        editor = await _open_editor(app, pilot)
        editor.query_one(TextArea).load_text("sdm.1.name=SDM 01\nsdm.1.dbhost=192.168.50.100\n")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any("changing settings needs the admin role" in m for m in notifications(app)), notifications(app)
    assert not ctx.settings.properties_path.exists()
    with tui_ctx.db.connection_context():
        assert AuditEvent.select().where(AuditEvent.category == "access", AuditEvent.os_user == "olga").count() == 1


async def test_reject_on_the_requests_screen(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["sim_swap_candidate"])
    roles = {"users": {"alice": "admin", "bob": "admin"}}
    from mdmtui.records import Action
    from mdmtui.services import approvals

    with fleet.db.connection_context():
        [req] = approvals.create(as_user(fleet, "alice", **roles), [target.id], Action.WIPE, "lost")
    app = create_app(as_user(fleet, "bob", **roles), poll_seconds=60, start="requests")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        app.screen.query_one("#f-reason", Input).value = "found in the office"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any(f"request #{req.id} rejected" in m for m in notifications(app))
        assert "requests:" not in str(app.screen.query_one("AppHeader").render())
    with fleet.db.connection_context():
        req = ApprovalRequest.get_by_id(req.id)
        assert (req.state, req.decided_by, req.decision_note) == ("rejected", "bob", "found in the office")
    assert wipes_sent(sim) == 0


async def test_a_wipe_request_keeps_the_intune_options_chosen_in_the_dialog(fleet, sim):
    import json

    from textual.widgets import Checkbox

    from mdmtui.storage.models import Device

    with fleet.db.connection_context():
        target = (Device.select().where(Device.os_class == "IS", Device.computer_name.is_null(False))
                  .order_by(Device.id).first())
    alice = as_user(fleet, "alice", users={"alice": "admin", "bob": "admin"})
    app = create_app(alice, poll_seconds=60)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, alice, target)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        app.screen.query_one("#opt-keep_user_data", Checkbox).value = True
        app.screen.query_one("#typed", Input).value = confirm_label(target)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        app.screen.query_one("#f-justification", Input).value = "reassigned to a new hire, keep her data"
        await pilot.press("ctrl+s")
        await settle(pilot, 5)
    with fleet.db.connection_context():
        [req] = ApprovalRequest.select()
    assert req.action == "wipe" and json.loads(req.options)["keep_user_data"] is True
    assert json.loads(req.options)["keep_enrollment_data"] is False
