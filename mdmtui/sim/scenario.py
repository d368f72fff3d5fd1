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
