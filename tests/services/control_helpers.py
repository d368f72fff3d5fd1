"""Helpers for the control tests: linkage/device rows and a scriptable in-process MDM connector.

The fake speaks the Connector protocol and nothing else; the tests against the simulator and the
real connectors live in test_control_sim.py.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from mdmtui.errors import AuthenticationFailed, ConnectionFailed, MdmRequestError, ProtocolError, Throttled
from mdmtui.storage.models import AuditEvent, Device, DeviceAction, Linkage
from mdmtui.records import Action, ActionResult, DeviceRef, Outcome, WipeOptions

SYSTEM_OF = {"Si": "sdm", "SA": "sdm", "M": "mobileiron", "IS": "intune", "IP": "intune"}
_serials = itertools.count(1000)


def make_linkage(name: str = "L1", system: str = "mobileiron") -> Linkage:
    """A linkage row (no secrets: the tests inject their connector)."""
    return Linkage.create(name=name, system=system, server_url="https://mdm.example.test")


def make_device(linkage: Linkage | None, os_class: str = "M", name: str | None = None, *,
                mdm_id: str | None = None, serial: str | None = None, imei: str | None = None,
                status: str = "Unknown") -> Device:
    """A collected device row."""
    n = next(_serials)
    return Device.create(
        linkage=linkage, linkage_name=linkage.name if linkage else "gone", os_class=os_class,
        mdm_device_id=mdm_id or f"mdm-{n}", computer_name=name if name is not None else f"dev-{n}",
        serial_number=serial or f"SN{n}", imei=imei, device_status=status,
    )


@dataclass
class Behaviour:
    """How the fake MDM answers one device: ``send`` and ``follow`` are consumed in order, the last repeats.

    Items are an Outcome (answered as such), an exception instance (raised), or a callable(ref) -> either.
    """

    send: list = field(default_factory=lambda: [Outcome.SUCCEEDED])
    follow: list = field(default_factory=lambda: [Outcome.SUCCEEDED])
    message: str = ""
    code: str | None = None
    new_passcode: str | None = None


OK = Behaviour()
PENDING_THEN_DONE = Behaviour(send=[Outcome.PENDING], follow=[Outcome.PENDING, Outcome.SUCCEEDED])
PENDING_FOREVER = Behaviour(send=[Outcome.PENDING], follow=[Outcome.PENDING])
PROFILE_REMOVED = Behaviour(send=[Outcome.FAILED], message="the device's MDM profile was removed",
                            code="com.mobileiron.vsp.messages.device.action.failed")


def timeout_behaviour(state_after: Outcome | Exception | None = None) -> Behaviour:
    """The answer to the send is lost; ``state_after`` is what the MDM's own state says (None: none)."""
    lost = ConnectionFailed("timed out after 60 s waiting for the MDM")
    return Behaviour(send=[lost], follow=[state_after if state_after is not None else ProtocolError("no state kept")])


def throttled_then_ok(times: int, retry_after: float | None = 0.05) -> Behaviour:
    """Throttled ``times`` times, then accepted."""
    return Behaviour(send=[Throttled("429 Too Many Requests", retry_after=retry_after)] * times + [Outcome.SUCCEEDED])


class FakeMdm:
    """The state of a scriptable MDM shared by every connector the factory hands out."""

    def __init__(self, behaviours: dict[str, Behaviour] | None = None, *, latency: float = 0.0,
                 default: Behaviour = OK) -> None:
        self.behaviours = behaviours or {}
        self.default = default
        self.latency = latency
        self.sent: list[tuple[str, str, WipeOptions | None]] = []  # (action, mdm id, options)
        self.follow_ups: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = 0
        self._counters: dict[tuple[str, str], int] = {}
        self.send_times: list[float] = []
        self.refuse_factory: Exception | None = None

    def factory(self, ctx, linkage):
        """The connector_factory argument of act()."""
        if self.refuse_factory is not None:
            raise self.refuse_factory
        return FakeConnector(self)

    def sent_ids(self, action: str | None = None) -> list[str]:
        """MDM ids that received a command (optionally of one action)."""
        return [mdm_id for a, mdm_id, _ in self.sent if action is None or a == action]

    def next_item(self, kind: str, mdm_id: str):
        behaviour = self.behaviours.get(mdm_id, self.default)
        items = getattr(behaviour, kind)
        n = self._counters.get((kind, mdm_id), 0)
        self._counters[(kind, mdm_id)] = n + 1
        return behaviour, items[min(n, len(items) - 1)]


class FakeConnector:
    """Connector protocol over a FakeMdm."""

    system = "fake"

    def __init__(self, mdm: FakeMdm) -> None:
        self.mdm = mdm

    async def lock(self, device: DeviceRef) -> ActionResult:
        return await self._answer("send", Action.LOCK, device, None)

    async def wipe(self, device: DeviceRef, options: WipeOptions) -> ActionResult:
        return await self._answer("send", Action.WIPE, device, options)

    async def reset_passcode(self, device: DeviceRef) -> ActionResult:
        return await self._answer("send", Action.RESET_PASSCODE, device, None)

    async def follow_up(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        self.mdm.follow_ups.append((pending.action.value, device.mdm_device_id))
        return await self._answer("follow", pending.action, device, None)

    async def aclose(self) -> None:
        self.mdm.closed += 1

    async def _answer(self, kind: str, action: Action, device: DeviceRef, options) -> ActionResult:
        mdm = self.mdm
        mdm.in_flight += 1
        mdm.max_in_flight = max(mdm.max_in_flight, mdm.in_flight)
        try:
            if kind == "send":
                mdm.send_times.append(asyncio.get_running_loop().time())
            if mdm.latency:
                await asyncio.sleep(mdm.latency)
            behaviour, item = mdm.next_item(kind, device.mdm_device_id)
            if callable(item) and not isinstance(item, Outcome):
                item = item(device)
            if isinstance(item, BaseException):
                raise item
            if kind == "send":
                mdm.sent.append((action.value, device.mdm_device_id, options))
            return ActionResult(device.mdm_device_id, action, item, message=behaviour.message or item.value,
                                mdm_code=behaviour.code, request_id=f"req-{kind}-{device.mdm_device_id}",
                                reference=f"cmd-{device.mdm_device_id}" if kind == "send" else None,
                                new_passcode=behaviour.new_passcode)
        finally:
            mdm.in_flight -= 1


def rows_for(device: Device) -> list[DeviceAction]:
    """The device's DeviceAction rows, oldest first."""
    return list(DeviceAction.select().where(DeviceAction.device == device.id).order_by(DeviceAction.id))


def audit_for(device: Device) -> list[AuditEvent]:
    """The device's audit events, oldest first."""
    return list(AuditEvent.select().where(AuditEvent.device_id == device.id).order_by(AuditEvent.id))


__all__ = [
    "AuthenticationFailed", "MdmRequestError", "Behaviour", "FakeMdm", "OK", "PENDING_FOREVER",
    "PENDING_THEN_DONE", "PROFILE_REMOVED", "audit_for", "make_device", "make_linkage", "rows_for",
    "throttled_then_ok", "timeout_behaviour",
]


# --- the simulator and the real connectors -------------------------------------------------------------

def sim_linkage(ctx, sim, system: str, *, name: str | None = None, timeout_s: float = 10.0) -> Linkage:
    """A linkage to the simulator's ``system``, created through the linkage service (secrets encrypted)."""
    from mdmtui.services import linkages

    data = {"name": name or system, "system": system, "timeout_s": timeout_s}
    if system == "intune":
        data.update(server_url=sim.intune.base_url, authority_url=sim.intune.base_url,
                    tenant_id=sim.intune.tenant_id, client_id=sim.intune.client_id,
                    client_secret=sim.intune.client_secret)
    elif system == "mobileiron":
        data.update(server_url=sim.mobileiron.base_url, user="api_admin", password=sim.mobileiron.password)
    else:
        data.update(server_url=sim.sdm.base_url, user=sim.sdm.user, password=sim.sdm.password)
    return linkages.create(ctx, data)


async def seed_from_mdm(ctx, linkage: Linkage) -> list[Device]:
    """Device rows for every device the MDM lists (a minimal stand-in for a collection)."""
    from mdmtui.services.control import default_connector

    connector = default_connector(ctx, linkage)
    devices = []
    try:
        async for page in connector.iter_device_pages({}):
            for record in page:
                devices.append(Device.create(
                    linkage=linkage, linkage_name=linkage.name, mdm_device_id=record.mdm_device_id,
                    os_class=record.os_class.value, computer_name=record.computer_name,
                    serial_number=record.serial_number, imei=record.imei, mdm_managed=record.mdm_managed,
                    mdm_status=record.mdm_status,
                    device_status="Unknown"))
    finally:
        await connector.aclose()
    return devices


def sim_requests(sim, mdm: str, method: str, path_part: str, status: int | None = None) -> int:
    """How many requests the simulator answered for ``mdm`` whose path contains ``path_part``."""
    return sum(1 for m, meth, path, st in list(sim.requests_log)
               if m == mdm and meth == method and path_part in path and (status is None or st == status))
