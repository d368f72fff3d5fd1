"""The spec's control matrix: which action each source and OS class can take."""

from __future__ import annotations

from mdmtui.records import Action, OsClass

# action -> OS classes that may take it (LINKAGE-SPEC "Control")
CONTROL_MATRIX: dict[Action, frozenset[OsClass]] = {
    Action.LOCK: frozenset({OsClass.SI, OsClass.SA, OsClass.M, OsClass.IS}),
    Action.WIPE: frozenset({OsClass.SI, OsClass.SA, OsClass.M, OsClass.IS, OsClass.IP}),
    Action.RESET_PASSCODE: frozenset({OsClass.SI, OsClass.SA, OsClass.M}),
}

_REASONS = {
    (Action.LOCK, OsClass.IP): "Intune cannot lock a device classified as PC",
    (Action.RESET_PASSCODE, OsClass.IS): "the passcode cannot be reset through Intune",
    (Action.RESET_PASSCODE, OsClass.IP): "the passcode cannot be reset through Intune",
}


def refusal(os_class: OsClass | str, action: Action | str) -> str | None:
    """Why ``action`` is impossible for a device of ``os_class``, or None when it is allowed."""
    os_class, action = OsClass(os_class), Action(action)
    if os_class in CONTROL_MATRIX[action]:
        return None
    return _REASONS.get((action, os_class), f"{action.value} is not available for {os_class.value} devices")


# MDM device states in which no command can reach the device, with the words the refusal uses. The
# states are MobileIron Core's (common.status, docs/mobileiron-core-api.md); LOST and BLOCKED devices are
# still enrolled (a lost device is the very one to lock or wipe), so they are not here. The same rule
# covers lock, wipe and passcode reset: none of them reaches a device without the MDM profile.
_STATE_REASONS = {
    "RETIRED": "the device was retired from its MDM",
    "WIPED": "the device was already wiped",
    "EXPIRED": "the device's registration expired before it enrolled",
    "VERIFIED": "the device's registration was never completed",
    "VERIFICATION_PENDING": "the device's registration was never completed",
}
NO_COMMAND_STATES = frozenset(_STATE_REASONS)
UNMANAGED_REASON = ("the device's MDM profile was removed (not MDM-managed): the command cannot reach it, "
                    "and MobileIron Core would still report success")


def state_refusal(mdm_managed: bool | None, mdm_status: str | None) -> str | None:
    """Why no command can reach a device in this MDM state (profile removed, retired, wiped...), or None."""
    status = (mdm_status or "").strip().upper()
    if status in _STATE_REASONS:
        return f"{_STATE_REASONS[status]} (MDM status {status}): no command can reach it"
    if mdm_managed is False:
        return UNMANAGED_REASON
    return None


def consumes_license(os_class: OsClass | str) -> bool:
    """Every smart device managed uses one license; devices managed through Intune use none."""
    return OsClass(os_class) not in {OsClass.IS, OsClass.IP}
