"""The device filter's history and saved views, kept in files across restarts.

History: the filters applied in the console's ``/`` prompt, oldest first, one a line in the data
directory (``filter_history``, at most ``HISTORY_LIMIT``, no control characters, no repeats). Saved
views: a filter text, the quick filters and the sort under a name, in ``views.json`` in the config
directory. Both files are written whole through a temporary file, readable by their owner only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mdmtui.config import Settings, open_private, private_dir
from mdmtui.errors import UsageError
from mdmtui.filterlang import clean

HISTORY_LIMIT = 100
NAME_LIMIT = 60


@dataclass(frozen=True)
class View:
    """A saved view of the device list: the filter text, the quick filters and the order."""

    filter: str = ""
    linkage: str | None = None
    os_class: str | None = None
    device_status: str | None = None
    missing: bool | None = None
    security_problem: bool | str | None = None
    sort: str = "computer_name"
    descending: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> View:
        """A view from its stored form (unknown keys ignored: a newer mdmtui may have written them)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def history_path(settings: Settings) -> Path:
    """Where the filter history is kept."""
    return settings.data_dir / "filter_history"


def views_path(settings: Settings) -> Path:
    """Where the saved views are kept."""
    return settings.config_dir / "views.json"


def load_history(settings: Settings) -> list[str]:
    """The remembered filters, oldest first (an unreadable file: none)."""
    try:
        lines = history_path(settings).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    entries = [e for e in (clean(line).strip() for line in lines) if e]
    return list(dict.fromkeys(reversed(entries)))[:HISTORY_LIMIT][::-1]


def remember(settings: Settings, text: str) -> list[str]:
    """Add a filter to the history (moved to the end when already there); the history after it."""
    entry = clean(text).strip()
    history = load_history(settings)
    if not entry:
        return history
    history = [e for e in history if e != entry] + [entry]
    history = history[-HISTORY_LIMIT:]
    _write(history_path(settings), "".join(e + "\n" for e in history))
    return history


def load_views(settings: Settings) -> dict[str, View]:
    """The saved views by name, sorted by name (an unreadable or broken file: none)."""
    try:
        data = json.loads(views_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    views = {}
    for name, value in data.items():
        try:
            views[str(name)] = View.from_dict(value)
        except (TypeError, AttributeError):
            continue  # a hand-edited entry that is no view
    return dict(sorted(views.items(), key=lambda item: item[0].lower()))


def save_view(settings: Settings, name: str, view: View) -> bool:
    """Save ``view`` as ``name``; True when it replaced a view of that name."""
    name = check_name(name)
    views = load_views(settings)
    replaced = name in views
    views[name] = view
    _write_views(settings, views)
    return replaced


def delete_view(settings: Settings, name: str) -> None:
    """Delete the view ``name`` (UsageError when there is none)."""
    views = load_views(settings)
    if name not in views:
        raise UsageError(f"no saved view named '{name}'")
    del views[name]
    _write_views(settings, views)


def check_name(name: str) -> str:
    """A view's name, trimmed; UsageError when empty, too long or with control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise UsageError("a view needs a name")
    if clean(trimmed) != trimmed:
        raise UsageError("a view's name cannot hold control characters")
    if len(trimmed) > NAME_LIMIT:
        raise UsageError(f"a view's name has at most {NAME_LIMIT} characters")
    return trimmed


def _write_views(settings: Settings, views: dict[str, View]) -> None:
    data = {name: asdict(view) for name, view in views.items()}
    _write(views_path(settings), json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _write(path: Path, text: str) -> None:
    """Replace ``path`` whole: a crash leaves the old file or the new one, never half of one."""
    private_dir(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    with open_private(temporary, "w") as out:
        out.write(text)
    os.replace(temporary, path)
