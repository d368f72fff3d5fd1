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


def consumes_license(os_class: OsClass | str) -> bool:
    """Every smart device managed uses one license; devices managed through Intune use none."""
    return OsClass(os_class) not in {OsClass.IS, OsClass.IP}
