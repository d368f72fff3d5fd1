"""``mdmtui`` (the console on the configured database) and ``mdmtui demo`` (the console on a simulator)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from mdmtui.config import Settings
from mdmtui.records import System
from mdmtui.services.context import Context, open_context

log = logging.getLogger("mdmtui.demo")

DEMO_LINKAGES = {System.INTUNE: "Intune (demo)", System.MOBILEIRON: "MobileIron (demo)", System.SDM: "SDM (demo)"}


def register(subparsers) -> None:
    """Add ``console`` and ``demo``."""
    console = subparsers.add_parser("console", help="open the console (the default when no command is given)")
    _screen_option(console)
    console.set_defaults(handler=run_console)
    demo = subparsers.add_parser("demo", help="open the console on a simulated fleet (throwaway database)",
                                 description="Start the MDM simulator with a generated fleet, a throwaway "
                                             "database and linkages pointing at it, collect once, and open "
                                             "the console. Everything is removed on exit.")
    demo.add_argument("--devices", type=_positive, default=2000, metavar="N",
                      help="devices in total across Intune, MobileIron and the SDM (default 2000)")
    demo.add_argument("--seed", type=int, default=1, help="fleet seed (default 1): the same seed, the same fleet")
    demo.add_argument("--keep", action="store_true", help="keep the throwaway data directory (its path is printed)")
    demo.add_argument("--no-collect", action="store_true", help="open on an empty database (press c to collect)")
    _screen_option(demo)
    demo.set_defaults(handler=run_demo)


def _screen_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--screen", choices=("overview", "devices", "linkages", "events", "audit", "licenses"),
                        default="overview", help="the screen to open on (default overview)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 3:
        raise argparse.ArgumentTypeError("at least 3 devices (one per MDM)")
    return value


def run_console(args: argparse.Namespace) -> int:
    """Open the console on the configured database."""
    from mdmtui.cli.common import context_from_args

    ctx = context_from_args(args)
    try:
        return _run_app(ctx, start=getattr(args, "screen", "overview"))
    finally:
        ctx.db.close()


def _run_app(ctx: Context, **options) -> int:
    from mdmtui.screens.app import create_app

    app = create_app(ctx, **options)
    result = app.run()
    return int(result or 0)


# ------------------------------------------------------------------------------------------- demo


class FleetSizes(TypedDict):
    """Devices per MDM, keyed by the simulator's keyword names (the systems' values)."""

    intune: int
    mobileiron: int
    sdm: int


def split_fleet(total: int) -> FleetSizes:
    """``total`` devices across the three MDMs, as even as possible."""
    third, rest = divmod(total, 3)
    return FleetSizes(intune=third + (1 if rest > 0 else 0), mobileiron=third + (1 if rest > 1 else 0), sdm=third)


@dataclass
class Demo:
    """A running demo: the simulator, its throwaway directory and the console's context."""

    sim: object
    directory: Path
    ctx: Context


@contextmanager
def demo_environment(devices: int = 2000, seed: int = 1, *, keep: bool = False,
                     read_only: bool = False) -> Iterator[Demo]:
    """Simulator + throwaway data dir + linkages + sdm_import.properties; all torn down on exit."""
    from mdmtui.sim import Simulator

    directory = Path(tempfile.mkdtemp(prefix="mdmtui-demo-"))
    sim = Simulator(seed=seed, scenario="demo", **split_fleet(devices)).start()
    ctx = None
    try:
        settings = Settings(data_dir=directory / "data", config_dir=directory / "config", read_only=False)
        ctx = open_context(settings)
        _link(ctx, sim)
        _write_properties(ctx, sim)
        if read_only:
            ctx.settings = Settings(**{**settings.model_dump(), "read_only": True})
        yield Demo(sim=sim, directory=directory, ctx=ctx)
    finally:
        if ctx is not None:
            ctx.db.close()
        sim.stop()
        if keep:
            print(f"mdmtui demo: data kept in {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _link(ctx: Context, sim) -> None:
    """One linkage per simulated MDM, through the linkage service (validated, secrets encrypted)."""
    from mdmtui.services import linkages

    linkages.create(ctx, {"name": DEMO_LINKAGES[System.INTUNE], "system": System.INTUNE, "server_url": sim.intune.base_url,
                          "authority_url": sim.intune.base_url, "tenant_id": sim.intune.tenant_id,
                          "client_id": sim.intune.client_id, "client_secret": sim.intune.client_secret})
    linkages.create(ctx, {"name": DEMO_LINKAGES[System.MOBILEIRON], "system": System.MOBILEIRON,
                          "server_url": sim.mobileiron.base_url, "user": sim.mobileiron.user,
                          "password": sim.mobileiron.password})
    linkages.create(ctx, {"name": DEMO_LINKAGES[System.SDM], "system": System.SDM, "server_url": sim.sdm.base_url,
                          "user": sim.sdm.user, "password": sim.sdm.password})


def _write_properties(ctx: Context, sim) -> None:
    """sdm_import.properties pointing the SDM linkage at the simulator's software service."""
    from mdmtui import sdm_properties

    path = ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = sdm_properties.SdmDbEntry(n=1, name=DEMO_LINKAGES[System.SDM], dbhost=sim.sdm.db_host, dbport=sim.sdm.db_port)
    sdm_properties.write(path, [entry], original_text="# written by mdmtui demo\n")


def first_collection(ctx: Context) -> list:
    """Collect every demo linkage once, printing one line per linkage."""
    from mdmtui.services import collection

    summaries = asyncio.run(collection.collect_many(ctx, None, trigger="immediate"))
    for s in summaries:
        print(f"  {s.linkage}: {s.status}, {s.devices_seen:,} devices", file=sys.stderr)
    return summaries


def swap_a_sim(sim) -> str | None:
    """Swap the SIM of the demo's candidate device, so the next collection (press c) shows the event."""
    for mdm in (System.INTUNE, System.MOBILEIRON, System.SDM):
        ident = sim.scenario_devices.get(mdm, {}).get("sim_swap_candidate")
        if ident:
            sim.admin.sim_swap(mdm, ident)
            return ident
    return None


def run_demo(args: argparse.Namespace) -> int:
    """Start the simulator, link it, collect once, open the console; clean up on exit."""
    print(f"mdmtui demo: simulating {args.devices:,} devices (seed {args.seed})…", file=sys.stderr)
    with demo_environment(args.devices, args.seed, keep=args.keep, read_only=bool(args.read_only)) as demo:
        if not args.no_collect:
            first_collection(demo.ctx)
            swap_a_sim(demo.sim)
        banner = "DEMO: c collects (a SIM swap waits)"
        return _run_app(demo.ctx, banner=banner, start=args.screen)
