"""How much faster bulk control is than one device at a time, and whether 429 bursts cost any outcome.

The simulator runs in a subprocess (its own interpreter, so it does not share our GIL) with one MDM of
``--devices`` devices and ``--latency-ms`` added to every answer. mdmtui then locks every device
through ``services.control.act`` three times, in the same run:

1. one at a time (action concurrency 1: the baseline),
2. in bulk (the configured action concurrency, 16 by default),
3. in bulk with 429 bursts switched on (N of every M requests refused with Retry-After),

and checks after each run that every device ended with its real outcome: devices whose MDM profile
was removed (``--removed``) failed, every other device succeeded, and each outcome is what the
simulator's own state says. Figures are ratios against the baseline of the same run.

    .venv/bin/python bench/control.py [--devices 1000] [--latency-ms 50] [--mdm mobileiron|sdm]
                                      [--json bench/results/control.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mdmtui.config import Settings  # noqa: E402
from mdmtui.storage.models import Device, DeviceAction  # noqa: E402
from mdmtui.records import Action, Outcome  # noqa: E402
from mdmtui.services import control, linkages  # noqa: E402
from mdmtui.services.context import open_context  # noqa: E402

SERVER = r"""
import json, sys
from mdmtui.sim import Simulator
mdm, n, step = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sim = Simulator(seed=11, **{m: (n if m == mdm else 0) for m in ("intune", "mobileiron", "sdm")}).start()
sim.sdm.command_step = step
print(json.dumps({"mobileiron": {"base_url": sim.mobileiron.base_url, "password": sim.mobileiron.password},
                  "sdm": {"base_url": sim.sdm.base_url, "user": sim.sdm.user, "password": sim.sdm.password}}),
      flush=True)
sys.stdin.read()
sim.stop()
"""


class _Count429(logging.Handler):
    """Counts the HTTP layer's retries after a 429 (the throttling that was honoured)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP 429" in record.getMessage():
            self.count += 1


def start_sim(mdm: str, devices: int, step: float) -> tuple[subprocess.Popen, dict]:
    """The simulator in a subprocess; returns it and its connection facts."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER, mdm, str(devices), str(step)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def linkage_input(mdm: str, facts: dict) -> dict:
    """The linkage settings pointing at the simulator."""
    if mdm == "mobileiron":
        return {"name": "bench", "system": "mobileiron", "server_url": facts["base_url"], "user": "api_admin",
                "password": facts["password"], "timeout_s": 30}
    return {"name": "bench", "system": "sdm", "server_url": facts["base_url"], "user": facts["user"],
            "password": facts["password"], "timeout_s": 30}


async def seed(ctx, linkage) -> list[int]:
    """Device rows for every device the MDM lists (what a collection would store)."""
    connector = control.default_connector(ctx, linkage)
    rows = []
    try:
        async for page in connector.iter_device_pages({}):
            rows += [{"linkage": linkage.id, "linkage_name": linkage.name, "mdm_device_id": r.mdm_device_id,
                      "os_class": r.os_class.value, "computer_name": r.computer_name,
                      "serial_number": r.serial_number, "device_status": "Unknown"} for r in page]
    finally:
        await connector.aclose()
    with ctx.db.atomic():
        for start in range(0, len(rows), 200):
            Device.insert_many(rows[start:start + 200]).execute()
    return [d.id for d in Device.select(Device.id).order_by(Device.id)]


def admin(base_url: str, method: str, path: str, body: dict | None = None) -> dict | None:
    """Call the simulator's /_sim admin routes."""
    reply = httpx.request(method, f"{base_url}/_sim{path}", json=body, timeout=30)
    reply.raise_for_status()
    return reply.json() if reply.content else None


def remove_profiles(base_url: str, ids: list[int], count: int) -> set[int]:
    """Remove the MDM profile of ``count`` devices spread over the fleet; returns their row ids."""
    chosen = set(ids[:: max(1, len(ids) // count)][:count]) if count else set()
    for device in Device.select().where(Device.id.in_(list(chosen))):
        admin(base_url, "POST", f"/devices/{device.mdm_device_id}/remove-profile")
    return chosen


def truth_expectation(mdm: str, base_url: str, device: Device) -> Outcome:
    """The outcome the MDM's own state calls for: a device without an MDM profile cannot be locked."""
    truth = admin(base_url, "GET", f"/devices/{device.mdm_device_id}")
    managed = truth.get("common.mdm_managed") if mdm == "mobileiron" else truth.get("managed")
    return Outcome.SUCCEEDED if managed not in (False, "false", "False") else Outcome.FAILED


async def timed_lock(ctx, ids: list[int], concurrency: int) -> tuple[float, list]:
    """Lock every device with the given concurrency; (seconds, outcomes)."""
    ctx.settings.action_concurrency = concurrency
    started = time.perf_counter()
    outcomes = await control.act(ctx, ids, Action.LOCK, follow_timeout=120)
    return time.perf_counter() - started, outcomes


def check(outcomes, expected: dict[int, Outcome]) -> dict:
    """Every device's outcome against the MDM's truth, and the recorded rows against the outcomes."""
    wrong = [o.device_id for o in outcomes if o.outcome is not expected[o.device_id]]
    return {"devices": len(outcomes), "summary": control.summarize(outcomes), "wrong_outcomes": len(wrong),
            "all_real": not wrong}


async def run(args) -> dict:
    proc, facts = start_sim(args.mdm, args.devices, args.command_step)
    base_url = facts[args.mdm]["base_url"]
    counter = _Count429()
    logging.getLogger("mdmtui").addHandler(counter)
    logging.getLogger("mdmtui").setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory(prefix="mdmtui-bench-") as tmp:
            ctx = open_context(Settings(data_dir=Path(tmp) / "data", config_dir=Path(tmp) / "config"))
            linkage = linkages.create(ctx, linkage_input(args.mdm, facts[args.mdm]))
            ids = await seed(ctx, linkage)
            remove_profiles(base_url, ids, args.removed)
            expected = {d.id: truth_expectation(args.mdm, base_url, d) for d in Device.select()}
            admin(base_url, "PUT", "/faults", {"latency_ms": args.latency_ms})
            base_ids = ids[: args.baseline_devices or len(ids)]
            # one command in flight at a time; an SDM command's follow-up polls may still overlap the
            # next send, which only makes this baseline faster (the ratio conservative)
            t_one, out_one = await timed_lock(ctx, base_ids, 1)
            t_bulk, out_bulk = await timed_lock(ctx, ids, args.concurrency)
            burst = [int(x) for x in args.burst.split("/")]
            admin(base_url, "PUT", "/faults", {"latency_ms": args.latency_ms, "burst_429": burst,
                                                "retry_after": args.retry_after})
            before_429 = counter.count
            t_burst, out_burst = await timed_lock(ctx, ids, args.concurrency)
            rows = DeviceAction.select().count()
            ctx.db.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    per_device_one = t_one / len(base_ids)
    return {
        "mdm": args.mdm, "devices": len(ids), "latency_ms": args.latency_ms, "concurrency": args.concurrency,
        "profile_removed": args.removed,
        "one_at_a_time": {"devices": len(base_ids), "seconds": round(t_one, 2),
                          "per_device_ms": round(per_device_one * 1000, 1), **check(out_one, expected)},
        "bulk": {"seconds": round(t_bulk, 2), "devices_per_s": round(len(ids) / t_bulk, 1),
                 "speedup_vs_one_at_a_time": round(per_device_one * len(ids) / t_bulk, 2), **check(out_bulk, expected)},
        "bulk_with_429_bursts": {"burst": args.burst, "retry_after_s": args.retry_after,
                                 "seconds": round(t_burst, 2), "http_429_retries": counter.count - before_429,
                                 "speedup_vs_one_at_a_time": round(per_device_one * len(ids) / t_burst, 2),
                                 **check(out_burst, expected)},
        "device_action_rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--mdm", choices=("mobileiron", "sdm"), default="mobileiron")
    parser.add_argument("--concurrency", type=int, default=16, help="bulk action concurrency (setting default 16)")
    parser.add_argument("--removed", type=int, default=25, help="devices whose MDM profile is removed")
    parser.add_argument("--burst", default="3/10", help="429 bursts: N of every M requests")
    parser.add_argument("--retry-after", type=float, default=0.5, help="Retry-After seconds on a 429")
    parser.add_argument("--command-step", type=float, default=0.2, help="SDM: seconds per command state")
    parser.add_argument("--baseline-devices", type=int, default=0,
                        help="lock only this many one at a time (0: all; the ratio is per device)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    ok = all(result[k]["all_real"] for k in ("one_at_a_time", "bulk", "bulk_with_429_bursts"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
