"""The core never imports Textual: only mdmtui.screens, mdmtui.widgets and the console command may. And
the console reaches the services only through its door, mdmtui.screens.backend (as pyproject.toml's
import-linter contract says; checked here from the source, so the test suite alone catches it too)."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

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


UI_DIRS = ("screens", "widgets")
DOOR = "mdmtui.screens.backend"  # the console's one door to the services


def _imported(tree: ast.AST) -> set[str]:
    """Every module an ``import`` or ``from … import`` names, at any depth (function-level ones too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_screens_and_widgets_reach_the_services_only_through_backend():
    root = Path(mdmtui.__file__).parent
    offenders = []
    for folder in UI_DIRS:
        for path in sorted((root / folder).glob("*.py")):
            module = f"mdmtui.{folder}.{path.stem}"
            if module == DOOR:
                continue
            used = _imported(ast.parse(path.read_text(encoding="utf-8")))
            offenders += [f"{module} imports {name}" for name in sorted(used)
                          if name == "mdmtui.services" or name.startswith("mdmtui.services.")]
    assert not offenders, "\n".join(offenders)
