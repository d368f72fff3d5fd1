"""The "demo" scenario: a few remarkable devices, placed deterministically among the first ones."""

from __future__ import annotations

DAY = 86_400


def _first(fleet, test, taken: set[int], scan: int = 400) -> int | None:
    for slot in range(min(scan, fleet.base_count)):
        prof = fleet.profile(slot)
        if slot not in taken and prof.get("mdm_status", "ACTIVE") == "ACTIVE" and test(prof):
            taken.add(slot)
            return slot
    return None


def _mark(sim, mdm: str, label: str, test, changes: dict, taken: set[int]) -> None:
    fleet = sim.fleets[mdm]
    slot = _first(fleet, test, taken)
    if slot is None:
        return
    if changes:
        fleet.update(slot, **changes)
    sim.scenario_devices.setdefault(mdm, {})[label] = fleet.id_of(slot)


def apply_demo(sim) -> None:
    """Inject the demo's devices; their ids land in `sim.scenario_devices[mdm][label]`."""
    for mdm in ("intune", "mobileiron", "sdm"):
        fleet = sim.fleets[mdm]
        taken: set[int] = set()
        apple = lambda p: p["manufacturer"] == "Apple" and bool(p["imei"])   # noqa: E731
        android = lambda p: p["os"] == "Android"                             # noqa: E731
        _mark(sim, mdm, "japanese_names", apple,
              {"device_name": "営業部の iPhone", "user_name": "山田 太郎"}, taken)
        _mark(sim, mdm, "stale", lambda p: bool(p["last_sync"]), {"last_sync": fleet.now0 - 75 * DAY}, taken)
        _mark(sim, mdm, "jailbroken", apple if mdm != "mobileiron" else android,
              {"jailbroken": "True", "compliance": "noncompliant"}, taken)
        _mark(sim, mdm, "sim_swap_candidate", lambda p: bool(p["imei"]), {}, taken)
        if mdm in ("mobileiron", "sdm"):
            _mark(sim, mdm, "profile_removed", lambda p: True, {"profile_removed": True}, taken)
        if mdm in ("intune", "sdm"):
            _mark(sim, mdm, "many_apps", android, {"app_count": 2500}, taken)
        if mdm == "intune":
            _mark(sim, mdm, "pc_two_macs", lambda p: p["os"] == "Windows" and bool(p["wifi_mac"]),
                  {"eth_mac": "00155D" + fleet.id_of(0)[-6:].upper()}, taken)
        if mdm == "sdm":
            _mark(sim, mdm, "old_manager_android", android, {"manager_version": "11-00-02"}, taken)


# Hostile MDM data: what an attacker (or a broken MDM) can put in free-text fields. Every value must reach
# the screen as plain text, be stored on every database, and never fail a run. Other tests reuse this table.
HOSTILE_VALUES: dict[str, str] = {
    "markup": "[/]pwn [link=https://x]click[/link]",
    "clear_screen": "\x1b[2JCleared",
    "osc_title": "\x1b]0;title\x07Titled",
    "c1_csi": "\x9b31mC1 CSI",
    "nul": "nul\x00byte",
    "cr_backspace": "over\rwrite\b\bX",
    "fake_error": "ok\nmdmtui: error: fake",
    "del_bidi": "del\x7f \u202eevil\u202c",
    "long_name": "長い名前" * 80,  # 320 characters: over a VARCHAR(255)
}
# Beyond 64 KiB (a TEXT column's limit on some databases); only the user name, so device names stay short.
HOSTILE_HUGE = "H" * 70_000


def apply_hostile(sim) -> None:
    """Give one device per value (per MDM) that device and user name; ids in `sim.scenario_devices`."""
    for mdm in ("intune", "mobileiron", "sdm"):
        taken: set[int] = set()
        # MobileIron reports a device name only for Apple devices: prefer them, take any when none is left
        apple = (lambda p: p["manufacturer"] == "Apple") if mdm == "mobileiron" else (lambda p: True)
        marks = [(label, {"device_name": value, "user_name": value}) for label, value in HOSTILE_VALUES.items()]
        marks.append(("huge_value", {"device_name": "huge user name", "user_name": HOSTILE_HUGE}))
        for label, changes in marks:
            fleet = sim.fleets[mdm]
            test = apple if _first(fleet, apple, set(taken)) is not None else (lambda p: True)
            _mark(sim, mdm, label, test, changes, taken)
