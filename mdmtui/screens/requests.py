"""The two-person rule's requests: approve (type the device's name) or reject another admin's request."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.binding import BindingType
from textual.widgets import DataTable

from mdmtui.errors import MdmtuiError
from mdmtui.formatting import local_time, outcome_line
from mdmtui.screens import backend
from mdmtui.screens.base import TableScreen
from mdmtui.screens.rows import RequestRow
from mdmtui.screens.commands import bindings
from mdmtui.screens.dialogs import FormScreen, ResultsScreen, TypedConfirmScreen


class RequestsScreen(TableScreen[RequestRow]):
    """Pending requests first, then the recent decisions, with what the MDM answered."""

    SCOPE = "requests"
    BINDINGS: ClassVar[list[BindingType]] = bindings("requests")
    COLUMNS = ("#", "State", "Action", "Device", "Asked by", "Expires", "Sent", "Justification")
    TABLE_ID = LOAD_NAME = "requests"
    LOAD_GROUP = "requests-list"

    def __init__(self) -> None:
        super().__init__()
        self._reasons: dict[str, str] = {}

    def fetch(self) -> list[tuple[Any, str | None]]:
        """Every request, with what sending it answered."""
        return backend.requests(self.ctx)

    def show(self, rows: list[tuple[Any, str | None]]) -> None:
        """Pending first, newest first; the header's count follows."""
        rows.sort(key=lambda pair: (pair[0].state != "pending", -pair[0].id))
        self.rows = [r for r, _ in rows]
        table = self.query_one(DataTable)
        table.clear()
        for r, sent in rows:
            table.add_row(r.id, r.state, r.action, r.device_name or r.mdm_device_id, r.requested_by,
                          local_time(r.expires_at), sent or "", r.justification[:80])
        self.app.pending_requests = sum(r.state == "pending" for r in self.rows)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey approve/reject for a request that is not pending, and approve for one's own."""
        base = super().check_action(action, parameters)
        if base is not True or action not in ("approve", "reject"):
            return base
        req = self.current() if self.is_mounted else None
        if req is None or req.state != "pending":
            self._reasons[action] = "no pending request highlighted"
            return None
        if action == "approve" and req.requested_by == self.ctx.os_user:
            self._reasons[action] = "you asked for it: another admin must approve it"
            return None
        return True

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        base = super().disabled_reason(action)
        return base if base != "not available here" else self._reasons.get(action, base)

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

    def action_approve(self) -> None:
        """Show the request and the device's changes; typing the device's name approves and sends."""
        req = self.chosen()
        changes = backend.request_changes(req)

        def approved(ok: bool | None) -> None:
            if ok:
                self._approve(req.id)

        name = req.device_name or req.mdm_device_id
        body = (f"{backend.describe_request(req)}\nasked by {req.requested_by}@{req.requested_host}: "
                f"{req.justification}\n\n" + ("CHANGED since the request: " + "; ".join(changes) if changes
                                             else "The device is unchanged since the request."))
        self.app.push_screen(TypedConfirmScreen(f"Approve request #{req.id}?", body, name,
                                                f"Type the device's name to approve and send: {name}",
                                                yes="Approve"), approved)

    @work(group="requests-decide", exit_on_error=False, name="approve")
    async def _approve(self, request_id: int) -> None:
        try:
            outcomes = await backend.approve(self.ctx, request_id)
        except MdmtuiError as exc:
            self.notify(str(exc), title=f"request #{request_id} not approved", severity="error", timeout=12)
        else:
            lines = [outcome_line(o.device_name or "?", o) for o in outcomes]
            self.app.push_screen(ResultsScreen(f"Request #{request_id}: approved and sent", lines))
        self.app.data_version += 1
        self.reload()

    def action_reject(self) -> None:
        """Ask for the reason, then reject."""
        req = self.chosen()

        def given(values: dict | None) -> None:
            if values is None:
                self.notify(f"request #{req.id} left as it was", severity="warning")
            else:
                self._reject(req.id, values["reason"])

        self.app.push_screen(FormScreen(f"Reject request #{req.id}?", [("reason", "Reason (kept in the audit log)",
                                                                        "")]), given)

    @work(thread=True, group="requests-decide", exit_on_error=False, name="reject")
    def _reject(self, request_id: int, reason: str | None) -> None:
        try:
            backend.reject(self.ctx, request_id, reason or None)
        except MdmtuiError as exc:  # a screen's worker errors reach nobody else: say it here
            self.app.call_from_thread(self.notify, str(exc), title=f"request #{request_id} not rejected",
                                      severity="error", timeout=12)
        else:
            self.app.call_from_thread(self.notify, f"request #{request_id} rejected; nothing was sent")
        self.app.call_from_thread(self.reload)
