"""The ``mdmtui`` command: the console by default, and one subcommand per task.

Each command group lives in its own module with ``register(subparsers)``; a handler is called as
``handler(args)`` and returns an exit status. Exit status: 0 ok, 1 failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from mdmtui import __version__
from mdmtui.errors import MdmtuiError
from mdmtui.logs import setup_logging

log = logging.getLogger("mdmtui.cli")

# Command groups, in --help order. Each module defines register(subparsers).
COMMAND_MODULES = [
    "mdmtui.cli_console",  # (default) console, demo
    "mdmtui.cli_linkage",  # linkage add|list|show|edit|remove
    "mdmtui.cli_collect",  # collect, devices list|show|export|delete, licenses
    "mdmtui.cli_control",  # lock, wipe, reset-passcode, actions, audit
    "mdmtui.cli_schedule",  # schedule list, daemon
    "mdmtui.sdm_properties_cli",  # sdm-properties check|show
    "mdmtui.sim.cli",  # sim
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one readable line on bad usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = ArgumentParser(prog="mdmtui", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mdmtui {__version__}")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="refuse every state-changing command (lock, wipe, edits...)")
    parser.add_argument("--database", metavar="URL", help="database URL (default: SQLite in the data directory; "
                        "also MDMTUI_DATABASE_URL)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log debug details to the log file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        module = _load(name)
        if module is not None:
            module.register(subparsers)
    return parser


def _load(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # a command group not built yet
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(verbose=args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        console = _load("mdmtui.cli_console")
        if console is None:
            print("mdmtui: the console is not yet available; see `mdmtui --help`", file=sys.stderr)
            return 1
        handler = console.run_console
    try:
        return int(handler(args) or 0)
    except MdmtuiError as exc:
        log.info("command failed: %s", exc, exc_info=True)
        print(f"mdmtui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mdmtui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback on the terminal; the log file has it
        log.exception("unexpected error")
        from mdmtui.logs import log_file_path
        print(f"mdmtui: unexpected error: {exc.__class__.__name__}: {exc} (details in {log_file_path()})",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
