"""`mdmtui sim`: run the simulator in the foreground and print how to reach it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .faults import parse_spec


def add_sim_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `sim` sub-command on an argparse subparsers object."""
    p = subparsers.add_parser("sim", help="run the MDM simulator (Intune, MobileIron Core, SDM) on loopback",
                              description="Serve simulated Intune (Graph), MobileIron Core and SDM APIs on 127.0.0.1.")
    p.add_argument("--devices", type=int, default=1000, metavar="N", help="devices per MDM (default 1000)")
    p.add_argument("--intune", type=int, metavar="N", help="Intune devices (overrides --devices)")
    p.add_argument("--mobileiron", type=int, metavar="N", help="MobileIron devices (overrides --devices)")
    p.add_argument("--sdm", type=int, metavar="N", help="SDM devices (overrides --devices)")
    p.add_argument("--port", type=int, default=0, metavar="P",
                   help="first port: Intune P, MobileIron P+1, SDM P+2, SDM software P+3, Intune export storage P+4 "
                        "(0 = free ports)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="data seed (default 1)")
    p.add_argument("--faults", action="append", default=[], metavar="SPEC",
                   help='fault switches, repeatable: "latency_ms=50,rate_429=0.1", "intune:rate_5xx=0.05", '
                        '"intune.batch:batch_item_fail_rate=0.2"')
    p.add_argument("--scenario", choices=["demo", "hostile"],
                   help="demo: the demo's remarkable devices; hostile: names with markup, escape sequences, NUL, "
                        "over 255 characters and a 70,000-character user name")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a private CA (its PEM path is printed)")
    p.add_argument("--budget", type=_budget, default=1.0, metavar="SCALE|off",
                   help="Intune's request budget: 1 = the real 2,000 per 20 s per app (4,000 per tenant), "
                        "0.1 = 200 per 2 s (same rate, smaller burst), off = unthrottled (default 1)")
    p.add_argument("--day-every", type=float, metavar="SECONDS",
                   help="a living fleet: every SECONDS of wall time the fleets live one day (check-ins, SIM "
                        "changes, enrolments, departures, app changes)")
    p.add_argument("--day-rates", metavar="RATES", default="",
                   help='per-day rates for --day-every, e.g. "checkin=0.9,sim_swap=0.01" (see the README)')
    p.set_defaults(func=run_sim)
    return p


def _budget(text: str) -> float | None:
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a scale such as 0.1 or 'off', not {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError("the scale must be more than 0 and at most 100")
    return value


def _limits_of(scale: float | None):
    from . import BudgetLimits
    return None if scale is None else BudgetLimits().scaled(scale)


def parse_rates(text: str):
    """DayRates from "name=value,name=value" (a clear ValueError for anything else)."""
    from .day import DayRates
    data = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        try:
            data[name.strip()] = float(value) if eq else None
        except ValueError:
            raise ValueError(f"rate {name.strip()} must be a number, not {value!r}") from None
        if not eq:
            raise ValueError(f"rate {name.strip()!r} needs a value (name=value)")
    return DayRates.from_dict(data)


def build(args):
    """A Simulator configured from parsed arguments (not started)."""
    from . import Simulator

    def n(value):
        return args.devices if value is None else value

    sim = Simulator(seed=args.seed, intune=n(args.intune), mobileiron=n(args.mobileiron), sdm=n(args.sdm),
                    scenario=args.scenario, tls=args.tls, port=args.port,
                    budget=_limits_of(getattr(args, "budget", 1.0)))
    for spec in args.faults:
        mdm, endpoint, faults = parse_spec(spec)
        sim.set_faults(faults, mdm=mdm, endpoint=endpoint)
    return sim


def describe(sim) -> str:
    """Base URLs and credentials of a started simulator, for people and scripts."""
    i, m, s = sim.intune, sim.mobileiron, sim.sdm
    lines = [
        "Intune (Microsoft Graph + Entra ID token endpoint)",
        f"  graph / authority : {i.base_url}",
        f"  tenant_id         : {i.tenant_id}",
        f"  client_id         : {i.client_id}",
        f"  client_secret     : {i.client_secret}",
        f"  export storage    : {i.storage_url}  (report export files; no token)",
        f"  devices           : {sim.fleets['intune'].count()}",
        "MobileIron Core",
        f"  base_url          : {m.base_url}",
        f"  user / password   : {m.user} / {m.password}",
        f"  device space id   : {m.device_space_id}",
        f"  devices           : {sim.fleets['mobileiron'].count()}",
        "SDM (connector appends /sdm/api/v1)",
        f"  base_url          : {s.base_url}",
        f"  user / password   : {s.user} / {s.password}",
        f"  software dbhost   : {s.db_host}  dbport: {s.db_port}",
        f"  devices           : {sim.fleets['sdm'].count()}",
        "Admin: POST/DELETE {base_url}/_sim/devices..., PUT {base_url}/_sim/faults (see the README, 'The MDM simulator')",
    ]
    if sim.ca_bundle:
        lines.append(f"CA bundle (TLS)     : {sim.ca_bundle}")
    if sim.scenario_devices:
        lines.append("Scenario devices:")
        for mdm, marks in sim.scenario_devices.items():
            lines += [f"  {mdm:10} {label:22} {ident}" for label, ident in marks.items()]
    return "\n".join(lines)


def run_sim(args) -> int:
    """Start the simulator, print its URLs and credentials, serve until Ctrl-C."""
    try:
        rates = parse_rates(args.day_rates) if args.day_every else None
        if args.day_every is not None and args.day_every <= 0:
            raise ValueError("--day-every must be more than 0 seconds")
    except ValueError as exc:
        print(f"mdmtui sim: {exc}", file=sys.stderr)
        return 2
    sim = build(args)
    sim.start()
    print(describe(sim), flush=True)
    print("Serving; press Ctrl-C to stop.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        _serve(sim, done, args.day_every, rates)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def _serve(sim, done: threading.Event, day_every: float | None, rates) -> None:
    """Wait for a stop signal; with `day_every`, advance the fleets one day each period."""
    if not day_every:
        while not done.wait(0.5):
            pass
        return
    while not done.wait(day_every):
        days = sim.admin.advance(24, rates=rates)
        print("A day passed: " + "; ".join(f"{mdm} {d['checked_in']} check-ins, {d['sim_swaps'] + d['iccid_only']} "
                                           f"SIM changes, +{d['enrolled']} -{d['left']}"
                                           for mdm, d in days.items()), flush=True)


def main(argv=None) -> int:
    """Standalone entry point: python -m mdmtui.sim."""
    parser = argparse.ArgumentParser(prog="mdmtui")
    add_sim_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)
