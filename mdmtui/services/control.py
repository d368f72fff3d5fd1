"""ActionDevice control: lock, wipe and passcode reset, recording the MDM's real answer for every device.

The rules, in order: the capability matrix and read-only mode are enforced before anything is sent;
"accepted" is not "done" (pending actions are followed until the MDM reports an end, or later by
``follow_up_pending``); a command whose answer was lost is never sent again blindly (the MDM's own
state is asked where it has one, otherwise the outcome is recorded as unknown); every outcome is a
``DeviceAction`` row and an audit entry; a new passcode is returned once and never stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from mdmtui import capabilities
from mdmtui.clock import utcnow
from mdmtui.connectors.base import Connector, connector_for
from mdmtui.errors import (
    ActionRefused, AuthenticationFailed, ConfigurationError, MdmRequestError, MdmtuiError, NotFoundError,
    Throttled,
)
from mdmtui.records import STATUS_WARNING, Action, ActionResult, DeviceRef, OsClass, Outcome, WipeOptions
from mdmtui.services import audit, events, roles
from mdmtui.services.context import Context
from mdmtui.storage import actions as stored
from mdmtui.storage import approvals as stored_requests
from mdmtui.storage.records import ActionRecord as ActionRecord  # callers name the records they get from here
from mdmtui.storage.records import ActionDevice, OpenAction
from mdmtui.storage.storable import clean
from mdmtui.storage import Serial
from mdmtui.storage.transactions import transaction

log = logging.getLogger(__name__)

FOLLOW_TIMEOUT_S = 30.0  # how long act() follows an accepted action before leaving it pending
FOLLOW_FIRST_DELAY_S = 0.5
FOLLOW_MAX_DELAY_S = 5.0
THROTTLE_RETRIES = 8  # a 429 means "not accepted", so sending again is safe; this bounds it
THROTTLE_BACKOFF_MAX_S = 30.0
WRITE_AHEAD_MESSAGE = "sent to the MDM; no answer recorded (interrupted?)"

ConnectorFactory = Callable[[Context, Any], Connector]  # (context, the linkage as services.linkages gives it)
DbCall = Callable[..., Awaitable[Any]]  # Serial.run: database work awaited off the event loop
T = TypeVar("T")
ProgressCallback = Callable[["ActProgress"], None]

_SYSTEM_OF = {OsClass.SI: "SDM", OsClass.SA: "SDM", OsClass.M: "MobileIron",
              OsClass.IS: "Intune", OsClass.IP: "Intune"}
_INTUNE = frozenset({OsClass.IS, OsClass.IP})
_WIPE_OPTION_LABELS = {"keep_enrollment_data": "keep enrollment data", "keep_user_data": "keep user data",
                       "persist_esim_data_plan": "keep the eSIM data plan"}
WIPE_OPTION_LABELS = dict(_WIPE_OPTION_LABELS)  # the console's wipe dialog offers these for Intune devices
ACTION_LABELS = {Action.LOCK: "lock", Action.WIPE: "wipe", Action.RESET_PASSCODE: "passcode reset"}
PERMISSIONS = {Action.LOCK: roles.Permission.LOCK, Action.WIPE: roles.Permission.WIPE,
               Action.RESET_PASSCODE: roles.Permission.RESET_PASSCODE}


class ControlledDevice(Protocol):
    """What the rules read of a device (an ``ActionDevice``, or a device the inventory gave)."""

    @property
    def linkage_id(self) -> int | None: ...

    @property
    def os_class(self) -> str: ...

    @property
    def mdm_device_id(self) -> str: ...

    @property
    def mdm_managed(self) -> bool | None: ...

    @property
    def mdm_status(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Approval:
    """The two-person-rule request an action is sent for: who asked, who approved."""

    id: int
    requested_by: str
    approved_by: str


@dataclass(slots=True)
class DeviceOutcome:
    """What became of one action on one device (the result carries a new passcode, if any, once)."""

    device_id: int | None
    device_name: str | None
    linkage_name: str | None
    result: ActionResult
    action_id: int | None = None  # the stored action (device_action); None for a dry run
    dry_run: bool = False

    @property
    def outcome(self) -> Outcome:
        """The outcome of the action."""
        return self.result.outcome


@dataclass(slots=True)
class ActProgress:
    """A progress tick of a run: ``done`` of ``total`` devices settled, ``sent`` of them sent."""

    done: int
    total: int
    sent: int
    last: DeviceOutcome


# ----------------------------------------------------------------------------------------- policy


def refusal_for(ctx: Context, device: ControlledDevice, action: Action, options: WipeOptions | None = None) -> str | None:
    """Why ``action`` must not be sent to ``device``, or None when it may be."""
    if ctx.read_only:
        return "read-only mode: no state-changing command is sent"
    if device.linkage_id is None:
        return "the device's linkage was removed: it can no longer be controlled"
    reason = capabilities.refusal(device.os_class, action)
    if reason is None and action is Action.WIPE:
        reason = _wipe_option_refusal(OsClass(device.os_class), options or WipeOptions())
    if reason is None and not ctx.settings.send_to_unmanaged:
        reason = _state_refusal(device)
    return reason


def _state_refusal(device: ControlledDevice) -> str | None:
    """The device's MDM state (profile removed, retired, wiped...) as stored by the last collection."""
    reason = capabilities.state_refusal(device.mdm_managed, device.mdm_status)
    return f"not sent: {reason} (set send_to_unmanaged to send anyway)" if reason else None


def _wipe_option_refusal(os_class: OsClass, options: WipeOptions) -> str | None:
    if os_class in _INTUNE:
        return None
    asked = [label for name, label in _WIPE_OPTION_LABELS.items() if getattr(options, name)]
    if not asked:
        return None
    # refusing is the safe side: the MDM would wipe everything the admin asked to keep
    return f"{' and '.join(asked)}: not available on {_SYSTEM_OF[os_class]}, whose wipe erases everything"


def options_record(action: Action, options: WipeOptions | None) -> dict[str, Any] | None:
    """The options as recorded with the action and in the audit log (never secrets)."""
    if action is not Action.WIPE:
        return None
    data = dataclasses.asdict(options or WipeOptions())
    if not data.get("note"):
        data.pop("note", None)
    return data


def describe_send(device: ControlledDevice, action: Action, options: WipeOptions | None) -> str:
    """A dry run's line: what would be sent to which MDM."""
    system = _SYSTEM_OF.get(OsClass(device.os_class), device.os_class)
    text = f"would send {ACTION_LABELS[action]} to {system} device {device.mdm_device_id}"
    if action is Action.WIPE and OsClass(device.os_class) in _INTUNE:
        opts = options or WipeOptions()
        flags = ", ".join(f"{label}: {'yes' if getattr(opts, name) else 'no'}"
                          for name, label in _WIPE_OPTION_LABELS.items())
        text += f" ({flags})"
    return text


# ---------------------------------------------------------------------------------------- the run


async def act(ctx: Context, device_ids: Sequence[int], action: Action | str, options: WipeOptions | None = None,
              *, progress: ProgressCallback | None = None, cancel: asyncio.Event | None = None,
              dry_run: bool = False, follow: bool = True, follow_timeout: float = FOLLOW_TIMEOUT_S,
              connector_factory: ConnectorFactory | None = None,
              approval: Approval | None = None) -> list[DeviceOutcome]:
    """Send ``action`` to each device; one outcome per device, in the order given (repeats dropped).

    ``approval`` is given only by the approvals service, sending a request a second admin approved.
    """
    action = Action(action)
    if options is not None and action is not Action.WIPE:
        raise ValueError("options apply to a wipe only")
    async with ctx.storage.serial() as db:  # every read and write of the run, in order, off the event loop
        await db.run(roles.require, ctx, PERMISSIONS[action],
                     target=f"{ACTION_LABELS[action]} of {len(device_ids)} device(s)")
        devices = await db.run(_load_devices, device_ids)
        if approval is not None:
            await db.run(_check_approval, ctx, approval, devices, action)
        gate = None if approval or dry_run else roles.approval_refusal(ctx, action.value)
        plans = [(device, gate or refusal_for(ctx, device, action, options)) for device in devices]
        if dry_run:
            return [_dry_outcome(d, action, options, reason) for d, reason in plans]
        run = _Run(ctx, db, action, options, progress, cancel, len(plans), follow, follow_timeout, approval)
        outcomes: dict[int, DeviceOutcome] = {}
        for device, reason in plans:
            if reason is not None:
                outcomes[device.id] = await run.refuse(device, reason)
        sendable = [d for d, reason in plans if reason is None]
        factory = connector_factory or default_connector
        async with asyncio.TaskGroup() as group:
            for linkage, group_devices in await db.run(_by_linkage, sendable):
                group.create_task(run.linkage(factory, linkage, group_devices, outcomes))
    return [outcomes[d.id] for d in devices]


def _check_approval(ctx: Context, approval: Approval, devices: list[ActionDevice], action: Action) -> None:
    """An approval sends only what it approved, by its approver, once (no action recorded for it yet)."""
    row = stored_requests.get(approval.id)
    if (row is None or row.state != "approved" or row.decided_by != ctx.os_user or row.action_id is not None
            or row.action != action.value or [d.id for d in devices] != [row.device_id]):
        raise ActionRefused(f"request #{approval.id} does not approve this send: nothing was sent")


def default_connector(ctx: Context, linkage: Any) -> Connector:
    """The linkage's connector, sized for the action concurrency setting."""
    from mdmtui.services.linkages import linkage_config

    config = linkage_config(ctx, linkage)
    config.max_concurrency = max(config.max_concurrency, ctx.settings.action_concurrency)
    return connector_for(config)


def _load_devices(device_ids: Sequence[int]) -> list[ActionDevice]:
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    rows = stored.devices(ids)
    missing = [i for i in ids if i not in rows]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise NotFoundError(f"no device with id {shown}: nothing was sent")
    return [rows[i] for i in ids]


def _by_linkage(devices: list[ActionDevice]) -> list[tuple[str, list[ActionDevice]]]:
    """The devices grouped by linkage, each group with its linkage's current name."""
    groups: dict[int, list[ActionDevice]] = {}
    for device in devices:
        if device.linkage_id is not None:  # refused before: a removed linkage cannot be controlled
            groups.setdefault(device.linkage_id, []).append(device)
    names = stored.linkage_names(groups)
    return [(names.get(lid) or members[0].linkage_name or f"#{lid}", members) for lid, members in groups.items()]


def _linkage_connector(ctx: Context, factory: ConnectorFactory, name: str) -> Connector:
    """The connector of linkage ``name`` (NotFoundError when it was removed meanwhile)."""
    from mdmtui.services import linkages

    return factory(ctx, linkages.get(ctx, name))


def _dry_outcome(device: ActionDevice, action: Action, options: WipeOptions | None, reason: str | None) -> DeviceOutcome:
    result = ActionResult(device.mdm_device_id, action, Outcome.REFUSED if reason else Outcome.PENDING,
                          message=reason or describe_send(device, action, options))
    return DeviceOutcome(device.id, device.computer_name, device.linkage_name, result, dry_run=True)


class _Lane:
    """One linkage during a run: its connector, the concurrency bound and a shared throttle gate."""

    def __init__(self, connector: Connector, limit: int) -> None:
        self.connector = connector
        self.slots = asyncio.Semaphore(limit)
        self.resume_at = 0.0  # loop time before which nobody sends (the MDM asked us to wait)
        self.stop_reason: str | None = None  # set when sending more is pointless (credentials)

    async def wait_gate(self) -> None:
        """Wait while the MDM's Retry-After is in force."""
        loop = asyncio.get_running_loop()
        while (delay := self.resume_at - loop.time()) > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold every sender of this linkage for ``seconds``."""
        self.resume_at = max(self.resume_at, asyncio.get_running_loop().time() + seconds)


class _Run:
    """One call of ``act``: records each device's outcome as it settles and reports progress."""

    def __init__(self, ctx: Context, db: Serial | None, action: Action, options: WipeOptions | None,
                 progress: ProgressCallback | None, cancel: asyncio.Event | None, total: int,
                 follow: bool, follow_timeout: float, approval: Approval | None = None) -> None:
        self.ctx, self.action, self.options = ctx, action, options
        self.db = db  # None: called from a thread that may do database work itself (record_refusal)
        self.approval = approval
        self.opts = options_record(action, options)
        if approval is not None:  # sent under both names: recorded on the action row and every entry
            self.opts = {**(self.opts or {}), "approval_id": approval.id,
                         "requested_by": approval.requested_by, "approved_by": approval.approved_by}
        self.progress, self.cancel, self.total = progress, cancel, total
        self.follow, self.follow_timeout = follow, follow_timeout
        self.done = self.sent = 0

    @property
    def cancelled(self) -> bool:
        """True once the admin asked to stop sending."""
        return self.cancel is not None and self.cancel.is_set()

    # --- per linkage and per device ------------------------------------------------------------

    async def linkage(self, factory: ConnectorFactory, name: str, devices: list[ActionDevice],
                      outcomes: dict[int, DeviceOutcome]) -> None:
        """Act on every device of one linkage through one connector."""
        try:
            connector = await self._db(_linkage_connector, self.ctx, factory, name)  # reads secrets, properties
        except MdmtuiError as exc:
            for device in devices:
                outcomes[device.id] = await self.not_sent(device, Outcome.FAILED,
                                                          f"not sent: linkage {name}: {exc}")
            return
        lane = _Lane(connector, self.ctx.settings.action_concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                for device in devices:
                    group.create_task(self._device(lane, device, outcomes))
        finally:
            await connector.aclose()

    async def _device(self, lane: _Lane, device: ActionDevice, outcomes: dict[int, DeviceOutcome]) -> None:
        ref = DeviceRef(device.mdm_device_id, OsClass(device.os_class), device.computer_name)
        async with lane.slots:
            if self.cancelled:
                outcomes[device.id] = await self.not_sent(device, Outcome.CANCELLED,
                                                          "not sent: the run was cancelled")
                return
            if lane.stop_reason:
                outcomes[device.id] = await self.not_sent(device, Outcome.FAILED, f"not sent: {lane.stop_reason}")
                return
            row = await self._db(self.write_ahead, device)
            self.sent += 1
            result = await self._send_recorded(lane, ref, row, device)
        forced = capabilities.state_refusal(device.mdm_managed, device.mdm_status)
        if forced:
            result = _sent_anyway(result, forced)
        elif result.outcome is Outcome.UNKNOWN:
            result = await _check_lost_answer(lane, self._db, ref, result, row)
        await self._db(self.settle, row, device, result)
        if result.outcome is Outcome.PENDING and self.follow:
            result = await self._follow(lane, ref, row, device, result)
        outcomes[device.id] = self._tick(await self._db(self.finish, row, device, result))

    async def _send_recorded(self, lane: _Lane, ref: DeviceRef, row: ActionRecord, device: ActionDevice) -> ActionResult:
        try:
            result = await _send(lane, self.action, ref, self.options)
            result.sent_at = row.requested_at
            result.earlier_sent_at, result.earlier_open = await self._db(_earlier_request, row)
            return result
        except asyncio.CancelledError:
            # the request may have reached the MDM: say so instead of leaving the write-ahead text
            # (waited for here, not awaited: a cancelled task must not lose this write to a second cancel)
            lost = _result(ref, self.action, Outcome.UNKNOWN,
                           "interrupted while waiting for the MDM's answer: outcome unknown, not resent")
            if self.db is None:
                self.settle(row, device, lost)
            else:
                self.db.run_blocking(self.settle, row, device, lost)
            raise

    async def _follow(self, lane: _Lane, ref: DeviceRef, row: ActionRecord, device: ActionDevice,
                      result: ActionResult) -> ActionResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.follow_timeout
        delay = FOLLOW_FIRST_DELAY_S
        while loop.time() + delay <= deadline and not self.cancelled:
            await _sleep_unless(self.cancel, delay)
            if self.cancelled:
                break
            newer = await _ask_state(lane, ref, result)
            # anything but "still pending" ends the follow: done, failed, or the MDM cannot tell
            if newer is not None and newer.outcome is not Outcome.PENDING:
                merged = merge(result, newer)
                await self._db(self.settle, row, device, merged)
                return merged
            result = await self._db(_note_progress, row, result, newer)
            delay = min(delay * 2, FOLLOW_MAX_DELAY_S)
        return result

    # --- recording ---------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Database work of the run: in its database thread (or here, for a caller already in a thread)."""
        return fn(*args) if self.db is None else await self.db.run(fn, *args)

    async def refuse(self, device: ActionDevice, reason: str) -> DeviceOutcome:
        """Record a refusal (nothing sent)."""
        return self._tick(await self._db(self.record_not_sent, device, Outcome.REFUSED, reason))

    async def not_sent(self, device: ActionDevice, outcome: Outcome, message: str) -> DeviceOutcome:
        """Record an action that was not sent (refused, cancelled, or its linkage unusable)."""
        return self._tick(await self._db(self.record_not_sent, device, outcome, message))

    def record_not_sent(self, device: ActionDevice, outcome: Outcome, message: str) -> DeviceOutcome:
        """Record an action that was not sent (refused, cancelled, or its linkage unusable)."""
        result = _result(DeviceRef(device.mdm_device_id, OsClass(device.os_class)), self.action, outcome, message)
        with transaction(self.ctx.db):  # the action row and its audit entry exist together or not at all
            row = _insert_row(self.ctx, device, self.action, self.opts, result)
            self._audit(device, result)
            if outcome is Outcome.FAILED:
                _emit_failure(device, self.action, result)
        return DeviceOutcome(device.id, device.computer_name, device.linkage_name, result, row.id)

    def write_ahead(self, device: ActionDevice) -> ActionRecord:
        """The row exists before the command leaves, so a crash leaves "unknown", not silence."""
        placeholder = _result(DeviceRef(device.mdm_device_id, OsClass(device.os_class)), self.action,
                              Outcome.UNKNOWN, WRITE_AHEAD_MESSAGE)
        return _insert_row(self.ctx, device, self.action, self.opts, placeholder)

    def settle(self, row: ActionRecord, device: ActionDevice, result: ActionResult) -> None:
        """Store the MDM's answer on the row and append it to the audit log, in one transaction."""
        with transaction(self.ctx.db):
            _update_row(row, result)
            self._audit(device, result)
            _apply_effect(device, self.action, result)

    def finish(self, row: ActionRecord, device: ActionDevice, result: ActionResult) -> DeviceOutcome:
        """The device is settled for this run: events for what needs attention, then progress."""
        if result.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
            _emit_failure(device, self.action, result)
        elif result.outcome is Outcome.PENDING:
            events.emit("action_pending", _event_text(device, self.action, result),
                        linkage_name=device.linkage_name, device_id=device.id)
        return DeviceOutcome(device.id, device.computer_name, device.linkage_name, result, row.id)

    def _audit(self, device: ActionDevice, result: ActionResult) -> None:
        audit.record(self.ctx, category="action", action=self.action.value, outcome=result.outcome.value,
                     message=_audit_message(result), device=device, options=self.opts,
                     request_id=result.request_id, approval_id=self.approval.id if self.approval else None)

    def _tick(self, outcome: DeviceOutcome) -> DeviceOutcome:
        self.done += 1
        if self.progress is not None:
            try:
                self.progress(ActProgress(self.done, self.total, self.sent, outcome))
            except Exception:  # a broken progress display must not stop a bulk wipe halfway
                log.exception("progress callback failed")
        return outcome


# ------------------------------------------------------------------------------------ talking to MDMs


async def _send(lane: _Lane, action: Action, ref: DeviceRef, options: WipeOptions | None) -> ActionResult:
    """Send once; again only after a throttling answer (429/503: the MDM did not take the command)."""
    for attempt in range(THROTTLE_RETRIES + 1):
        await lane.wait_gate()
        try:
            return _without_passcode_in_text(await _call(lane.connector, action, ref, options))
        except Throttled as exc:
            if attempt == THROTTLE_RETRIES:
                return _result(ref, action, Outcome.FAILED, f"not accepted: the MDM kept throttling ({exc})",
                               code="TooManyRequests", status=429)
            lane.pause(exc.retry_after if exc.retry_after else min(2 ** attempt, THROTTLE_BACKOFF_MAX_S))
        except AuthenticationFailed as exc:
            lane.stop_reason = f"the MDM rejected the credentials or permissions: {exc}"
            return _result(ref, action, Outcome.FAILED, str(exc), code="AuthenticationFailed")
        except Exception as exc:  # noqa: BLE001 - one device's surprise must not sink the bulk run
            return _from_error(ref, action, exc)
    raise AssertionError("unreachable")


async def _call(connector: Connector, action: Action, ref: DeviceRef, options: WipeOptions | None) -> ActionResult:
    if action is Action.LOCK:
        return await connector.lock(ref)
    if action is Action.WIPE:
        return await connector.wipe(ref, options or WipeOptions())
    return await connector.reset_passcode(ref)


def _sent_anyway(result: ActionResult, reason: str) -> ActionResult:
    """A command sent to a device no command can reach (send_to_unmanaged): failed, whatever the MDM said."""
    said = result.message or result.outcome.value
    return dataclasses.replace(result, outcome=Outcome.FAILED, new_passcode=None,
                               message=f"{reason}; sent anyway (send_to_unmanaged), so the MDM's answer "
                                       f"({said}) proves nothing")


def _from_error(ref: DeviceRef, action: Action, exc: BaseException) -> ActionResult:
    """An exception from a send, as an outcome: refusals are failures, a lost answer is unknown."""
    if isinstance(exc, MdmRequestError):
        outcome = Outcome.UNKNOWN if exc.status == 504 else Outcome.FAILED  # 504: a gateway lost the answer
        return _result(ref, action, outcome, exc.message, code=exc.code, status=exc.status,
                       request_id=exc.request_id)
    if isinstance(exc, ConfigurationError):
        return _result(ref, action, Outcome.FAILED, f"not sent: {exc}")
    if not isinstance(exc, MdmtuiError):
        log.exception("unexpected error sending %s to %s", action.value, ref.mdm_device_id, exc_info=exc)
    return _result(ref, action, Outcome.UNKNOWN,
                   f"no usable answer from the MDM ({exc.__class__.__name__}: {exc}); "
                   "the command may have been carried out")


async def _check_lost_answer(lane: _Lane, db: DbCall, ref: DeviceRef, lost: ActionResult,
                             row: ActionRecord) -> ActionResult:
    """The answer was lost: ask the MDM's own record of the action once, never send it again."""
    newer = await _ask_state(lane, ref, lost)
    lost = await db(_note_progress, row, lost, newer)
    if newer is None or not _is_news(Outcome.UNKNOWN, newer.outcome):
        if newer is None:
            why = "its state could not be read"
        elif newer.outcome is Outcome.PENDING:
            why = f"the MDM shows no result for it ({newer.message or 'no record'})"
        else:
            why = "the MDM keeps no state to check"
        lost.message = (f"outcome unknown: {lost.message or 'the answer was lost'}; not sent again "
                        f"({why}); check the device, or mdmtui actions --follow-up later")
        return lost
    merged = merge(lost, newer)
    merged.message = f"{newer.message or newer.outcome.value} (answer to the command was lost; the MDM's state was checked)"
    return merged


async def _ask_state(lane: _Lane, ref: DeviceRef, known: ActionResult) -> ActionResult | None:
    """The MDM's current state of an action, or None when it cannot tell now."""
    async with lane.slots:
        await lane.wait_gate()
        try:
            return _without_passcode_in_text(await lane.connector.follow_up(ref, known))
        except Throttled as exc:
            lane.pause(exc.retry_after or FOLLOW_FIRST_DELAY_S)
        except Exception as exc:  # noqa: BLE001 - a failed look-up leaves the outcome as it was
            log.info("follow-up of %s on %s failed: %s", known.action.value, ref.mdm_device_id, exc)
    return None


async def _sleep_unless(cancel: asyncio.Event | None, seconds: float) -> None:
    if cancel is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(cancel.wait(), seconds)
    except TimeoutError:
        pass


def merge(known: ActionResult, newer: ActionResult) -> ActionResult:
    """A later answer about the same action; the original request id is kept."""
    return ActionResult(
        known.mdm_device_id, known.action, newer.outcome, message=newer.message or known.message,
        mdm_code=newer.mdm_code or known.mdm_code, http_status=newer.http_status or known.http_status,
        request_id=known.request_id or newer.request_id, reference=newer.reference or known.reference,
        new_passcode=newer.new_passcode or known.new_passcode, sent_at=known.sent_at or newer.sent_at,
        earlier_sent_at=known.earlier_sent_at, earlier_open=known.earlier_open,
    )


def _note_progress(row: ActionRecord, known: ActionResult, newer: ActionResult | None) -> ActionResult:
    """An open action for which the MDM now reports a state (Intune's wipeIssued): the row keeps its
    outcome but records the state, the evidence a later answer may rest on (a removed record)."""
    if newer is None or newer.outcome is not Outcome.PENDING or not newer.mdm_code or newer.mdm_code == known.mdm_code:
        return known
    message = newer.message if known.outcome is Outcome.PENDING else known.message
    known = dataclasses.replace(known, mdm_code=newer.mdm_code, message=message)
    stored.update(row.id, mdm_code=clean(known.mdm_code), message=clean(message), updated_at=utcnow())
    return known


def _earlier_request(row: ActionRecord) -> tuple[datetime | None, bool]:
    """(sent at, still open then) of the previous request of the same action to the same device."""
    earlier = stored.earlier(row, [Outcome.REFUSED.value, Outcome.CANCELLED.value])
    if earlier is None:
        return None, False
    final = earlier.outcome in (Outcome.SUCCEEDED.value, Outcome.FAILED.value)
    return earlier.requested_at, not (final and earlier.updated_at <= row.requested_at)


def _result(ref: DeviceRef, action: Action, outcome: Outcome, message: str, *, code: str | None = None,
            status: int | None = None, request_id: str | None = None) -> ActionResult:
    return ActionResult(ref.mdm_device_id, action, outcome, message=message, mdm_code=code,
                        http_status=status, request_id=request_id)


def _without_passcode_in_text(result: ActionResult) -> ActionResult:
    """Make sure a new passcode can only travel in ``new_passcode``, never in recorded text."""
    secret = result.new_passcode
    if secret:
        for name in ("message", "mdm_code", "reference"):
            value = getattr(result, name)
            if value and secret in value:
                setattr(result, name, value.replace(secret, "***"))
    return result


# --------------------------------------------------------------------------------------- storage


def _insert_row(ctx: Context, device: ActionDevice, action: Action, opts: dict[str, Any] | None,
                result: ActionResult) -> ActionRecord:
    now = utcnow()
    return stored.insert(
        device=device.id, linkage_name=device.linkage_name or "", mdm_device_id=device.mdm_device_id,
        device_name=device.computer_name, action=action.value,
        options=json.dumps(opts, sort_keys=True) if opts else None, outcome=result.outcome.value,
        message=clean(result.message), mdm_code=clean(result.mdm_code), http_status=result.http_status,
        request_id=clean(result.request_id), reference=clean(result.reference), os_user=ctx.os_user, host=ctx.host,
        requested_at=now, updated_at=now,
    )


def _update_row(row: ActionRecord, result: ActionResult) -> None:
    # never new_passcode: it is shown once and never stored
    stored.update(  # the MDM's text as a column can hold it (PostgreSQL refuses NUL)
        row.id, outcome=result.outcome.value, message=clean(result.message), mdm_code=clean(result.mdm_code),
        http_status=result.http_status, request_id=clean(result.request_id), reference=clean(result.reference),
        updated_at=utcnow(),
    )


def _apply_effect(device: ActionDevice, action: Action, result: ActionResult) -> None:
    """What a confirmed action changes on the stored device.

    A wipe sets ActionDevice Status "Warning" until the device re-registers and is collected. Any
    confirmed action forgets the change marker: some effects (a cleared passcode) do not show in
    the MDM's listing, so the next collection must fetch the device's details again.
    """
    if result.outcome is not Outcome.SUCCEEDED:
        return
    status = STATUS_WARNING if action is Action.WIPE else None
    stored.record_effect(device.id, status)
    if status is not None:
        device.device_status = status
    device.change_marker = None


def _audit_message(result: ActionResult) -> str:
    parts = [result.message or result.outcome.value]
    if result.mdm_code and result.mdm_code not in parts[0]:
        parts.append(f"[MDM code {result.mdm_code}]")
    if result.http_status:
        parts.append(f"[HTTP {result.http_status}]")
    return " ".join(parts)


def _event_text(device: ActionDevice, action: Action, result: ActionResult) -> str:
    name = device.computer_name or device.serial_number or device.mdm_device_id
    return f"{ACTION_LABELS[action]} of {name}: {result.outcome.value}: {_audit_message(result)}"


def _emit_failure(device: ActionDevice, action: Action, result: ActionResult) -> None:
    events.emit("action_failed", _event_text(device, action, result),
                linkage_name=device.linkage_name, device_id=device.id)


# -------------------------------------------------------------------------------------- follow-ups


async def follow_up_pending(ctx: Context, device_ids: Sequence[int] | None = None, *,
                            include_unknown: bool = True,
                            connector_factory: ConnectorFactory | None = None) -> list[DeviceOutcome]:
    """Ask the MDMs again about pending (and unknown) actions; record the ones that changed.

    Reading the MDM and recording what it says changes nothing on a device, so this runs in
    read-only mode too. Returns every action looked at, changed or not.
    """
    factory = connector_factory or default_connector
    results: list[DeviceOutcome] = []
    async with ctx.storage.serial() as db:
        groups = await db.run(_open_actions, device_ids, include_unknown)
        for name, rows in groups.items():
            results.extend(await _follow_linkage(ctx, db.run, factory, name, rows))
    return results


def _open_actions(device_ids: Sequence[int] | None, include_unknown: bool) -> dict[str, list[OpenAction]]:
    """Pending (and unknown) actions with their devices, by linkage name."""
    wanted = [Outcome.PENDING.value] + ([Outcome.UNKNOWN.value] if include_unknown else [])
    groups: dict[str, list[OpenAction]] = {}
    for item in stored.open_actions(wanted, device_ids):
        groups.setdefault(item.action.linkage_name, []).append(item)
    return groups


def _follow_connector(ctx: Context, factory: ConnectorFactory, name: str, count: int) -> Connector | None:
    from mdmtui.services import linkages

    try:
        linkage = linkages.get(ctx, name)
    except NotFoundError:
        log.info("follow-up skipped for %d action(s): linkage %s no longer exists", count, name)
        return None
    try:
        return factory(ctx, linkage)
    except MdmtuiError as exc:
        log.warning("follow-up of linkage %s impossible: %s", name, exc)
        return None


async def _follow_linkage(ctx: Context, db: DbCall, factory: ConnectorFactory, name: str,
                          rows: list[OpenAction]) -> list[DeviceOutcome]:
    connector = await db(_follow_connector, ctx, factory, name, len(rows))
    if connector is None:
        return []
    lane = _Lane(connector, ctx.settings.action_concurrency)
    try:
        return list(await asyncio.gather(*(_follow_row(ctx, db, lane, row) for row in rows)))
    finally:
        await connector.aclose()


async def _follow_row(ctx: Context, db: DbCall, lane: _Lane, item: OpenAction) -> DeviceOutcome:
    row, device = item.action, item.device
    known = await db(stored_result, row)
    ref = DeviceRef(row.mdm_device_id, OsClass(device.os_class), device.computer_name)
    newer = await _ask_state(lane, ref, known)
    result = known = await db(_note_progress, row, known, newer)
    if newer is not None and _is_news(known.outcome, newer.outcome):
        result = merge(known, newer)
        await db(_record_follow_up, ctx, row, device, result)
    return DeviceOutcome(device.id, device.computer_name, row.linkage_name, result, row.id)


def _is_news(before: Outcome, after: Outcome) -> bool:
    """Whether a follow-up answer changes what is known about an action."""
    if before is Outcome.UNKNOWN:
        # connectors answer "pending" when the MDM has no record yet, which is no evidence the
        # lost command arrived: only a reported end settles an unknown
        return after in (Outcome.SUCCEEDED, Outcome.FAILED)
    return after is not before  # an MDM that can no longer tell is news too


def _record_follow_up(ctx: Context, row: ActionRecord, device: ActionDevice, result: ActionResult) -> None:
    with transaction(ctx.db):
        _record_follow_up_rows(ctx, row, device, result)


def _record_follow_up_rows(ctx: Context, row: ActionRecord, device: ActionDevice, result: ActionResult) -> None:
    action = Action(row.action)
    _update_row(row, result)
    options = _json_or_none(row.options)
    audit.record(ctx, category="action", action=action.value, outcome=result.outcome.value,
                 message=f"follow-up: {_audit_message(result)}", device=device,
                 options=options, request_id=result.request_id,
                 approval_id=(options or {}).get("approval_id"))
    _apply_effect(device, action, result)
    if result.outcome is Outcome.FAILED:
        _emit_failure(device, action, result)


def stored_result(row: ActionRecord) -> ActionResult:
    """A stored action as the ActionResult a connector's follow_up expects."""
    earlier_sent_at, earlier_open = _earlier_request(row)
    return ActionResult(row.mdm_device_id, Action(row.action), Outcome(row.outcome), message=row.message or "",
                        mdm_code=row.mdm_code, http_status=row.http_status, request_id=row.request_id,
                        reference=row.reference, sent_at=row.requested_at, earlier_sent_at=earlier_sent_at,
                        earlier_open=earlier_open)


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def record_refusal(ctx: Context, device_ids: Sequence[int], action: Action | str,
                   options: WipeOptions | None, reason: str) -> list[DeviceOutcome]:
    """Record that ``action`` was refused for these devices before sending (e.g. a confirmation mismatch)."""
    action = Action(action)
    devices = _load_devices(device_ids)
    run = _Run(ctx, None, action, options, None, None, len(devices), False, 0.0)
    return [run.record_not_sent(device, Outcome.REFUSED, reason) for device in devices]


def list_actions(ctx: Context, *, device_ids: Sequence[int] | None = None, outcomes: Sequence[str] | None = None,
                 action: Action | str | None = None, limit: int | None = 100) -> list[ActionRecord]:
    """Recorded actions, newest first."""
    return stored.find(device_ids=device_ids, outcomes=[Outcome(o).value for o in outcomes] if outcomes else None,
                         action=Action(action).value if action is not None else None, limit=limit)


# ----------------------------------------------------------------------------------------- summary


def summarize(outcomes: Iterable[DeviceOutcome]) -> dict[str, int]:
    """How many devices ended in each outcome (only outcomes that occurred, in a fixed order)."""
    counts = {o.value: 0 for o in Outcome}
    for item in outcomes:
        counts[item.outcome.value] += 1
    return {k: v for k, v in counts.items() if v}


def summary_line(outcomes: Sequence[DeviceOutcome]) -> str:
    """One line such as "12 devices: 10 succeeded, 1 pending, 1 failed"."""
    parts = ", ".join(f"{n} {name}" for name, n in summarize(outcomes).items())
    noun = "device" if len(outcomes) == 1 else "devices"
    return f"{len(outcomes)} {noun}: {parts}" if outcomes else "no devices"


def all_fine(outcomes: Iterable[DeviceOutcome]) -> bool:
    """True when every device succeeded or is pending (the CLI's exit status 0)."""
    return all(o.outcome in (Outcome.SUCCEEDED, Outcome.PENDING) for o in outcomes)
