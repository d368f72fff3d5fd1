"""The spec's control matrix: which action each source and OS class can take."""

from __future__ import annotations

from mdmtui.connectors import spec
from mdmtui.records import Action, OsClass

# The refusal policy is written once, in each system's spec (connectors/spec.py, ``SystemSpec.refusals``):
# the connectors, this module and the services all ask ``refusal``.
refusal = spec.refusal


def control_matrix() -> dict[Action, frozenset[OsClass]]:
    """Action -> OS classes that may take it (LINKAGE-SPEC "Control"), as the specs say."""
    return {action: frozenset(c for c in OsClass if refusal(c, action) is None) for action in Action}


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
