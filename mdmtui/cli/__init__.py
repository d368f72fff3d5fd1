"""The ``mdmtui`` command: the console by default, and one subcommand per task.

Each command group lives in its own module with ``register(subparsers)``; a handler is called as
``handler(args)`` and returns an exit status. Exit status: 0 ok, 1 failed, 2 bad usage.
Errors are one readable line on stderr; the details (traceback) go to the log file only.
"""

from __future__ import annotations

import argparse
import os
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mdmtui import __version__
from mdmtui.errors import MdmtuiError
from mdmtui.cli.common import one_line
from mdmtui.formatting import printable
from mdmtui.logs import current_log_file, log_file_path, setup_logging

log = logging.getLogger("mdmtui.cli")

# Command groups, in --help order. Each module defines register(subparsers).
COMMAND_MODULES = [
    "mdmtui.cli.console",  # (default) console, demo
    "mdmtui.cli.overview",  # overview
    "mdmtui.cli.linkage",  # linkage add|list|show|edit|remove|test
    "mdmtui.cli.collect",  # collect, devices list|show|export|delete, licenses
    "mdmtui.cli.software",  # software list|show
    "mdmtui.cli.control",  # lock, wipe, reset-passcode, actions, audit
    "mdmtui.cli.requests",  # requests list|show|create|approve|reject (two-person rule)
    "mdmtui.cli.schedule",  # schedule list, daemon
    "mdmtui.cli.sdm_properties",  # sdm-properties check|show
    "mdmtui.sim.cli",  # sim
]
# Modules whose registering function has another name (written to run standalone as well)
REGISTRARS = {"mdmtui.sim.cli": "add_sim_parser"}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one readable line on bad usage; no abbreviated options."""

    def __init__(self, *args, **kwargs) -> None:
        # '--password x' must never be taken as an abbreviation of some '--password-...' option
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {printable(message)} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = ArgumentParser(prog="mdmtui", description="A keyboard-driven console linking an asset inventory to MDM systems "
                            "(Intune, MobileIron Core, SDM). With no command, it opens the console.")
    parser.add_argument("--version", action="version", version=f"mdmtui {__version__}")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="refuse every state-changing command (lock, wipe, edits...)")
    parser.add_argument("--database", metavar="URL", help="database URL (default: SQLite in the data directory; "
                        "also MDMTUI_DATABASE_URL)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log debug details to the log file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        register = registrar(name)
        if register is not None:
            register(subparsers)
    return parser


def registrar(name: str):
    """The ``register(subparsers)`` function of a command module, or None when it is not built yet."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # a command group not built yet
            return None
        raise
    return getattr(module, REGISTRARS.get(name, "register"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    try:
        parser = build_parser()
    except Exception as exc:  # a broken command module must not print a traceback either
        return _unexpected(exc)
    args = parser.parse_args(argv)  # exits 0 for --help, 2 for bad usage
    setup_logging(verbose=bool(args.verbose), path=_log_path(args))
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        if args.command:  # a group given without its subcommand
            print(f"mdmtui {args.command}: choose a subcommand (see mdmtui {args.command} --help)", file=sys.stderr)
            return 2
        console = registrar("mdmtui.cli.console") and importlib.import_module("mdmtui.cli.console")
        if not console:
            print("mdmtui: the console is not yet available; see `mdmtui --help`", file=sys.stderr)
            return 1
        handler = console.run_console
    return run_handler(handler, args)


def run_handler(handler, args: argparse.Namespace) -> int:
    """Call a command's handler; errors become one line on stderr and the exit status."""
    try:
        return int(handler(args) or 0)
    except MdmtuiError as exc:
        log.info("command failed: %s%s", exc, f" ({exc.detail})" if exc.detail else "", exc_info=True)
        print(f"mdmtui: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mdmtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mdmtui ... | head` closed the pipe: not an error worth a message
        _silence_stdout()
        return 0
    except Exception as exc:  # never a traceback on the terminal; the log file has it
        return _unexpected(exc)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


def _unexpected(exc: Exception) -> int:
    path = current_log_file() or setup_logging()
    log.exception("unexpected error")
    print(f"mdmtui: unexpected error: {exc.__class__.__name__}: {one_line(str(exc))} "
          f"(details in {path})", file=sys.stderr)
    return 1


def _log_path(args: argparse.Namespace) -> Path:
    """The configured log file; the default one when the settings themselves are broken."""
    from mdmtui.config import load_settings

    try:
        return load_settings().log_file
    except MdmtuiError:
        return log_file_path()

