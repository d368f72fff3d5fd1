"""The core never imports Textual: only mdmtui.screens, mdmtui.widgets and the console command may."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import mdmtui

UI_PREFIXES = ("mdmtui.screens", "mdmtui.widgets", "mdmtui.cli.console")


def core_modules() -> list[str]:
    """Every mdmtui module outside the UI, found by walking the package."""
    names = []
    for info in pkgutil.walk_packages(mdmtui.__path__, "mdmtui."):
        if not info.name.startswith(UI_PREFIXES) and not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def test_walk_finds_the_core():
    names = core_modules()
    assert {"mdmtui.cli", "mdmtui.services.linkages", "mdmtui.storage.db", "mdmtui.connectors.base"} <= set(names)
    assert not any(n.startswith(UI_PREFIXES) for n in names)


def test_core_does_not_import_textual():
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'textual' in sys.modules:\n"
        "        print(name); sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"importing {done.stdout.strip()} pulled in textual {done.stderr[-2000:]}"


def test_cli_parser_builds_without_textual():
    code = "import sys; from mdmtui import cli; cli.build_parser(); print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
