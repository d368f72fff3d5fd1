"""The fleet's software for the Software screen and ``mdmtui software``: titles and versions with their
counts, read from the aggregate storage keeps (``mdmtui/storage/software.py``, which also documents how
every write to ``software`` keeps it current).

This service keeps the rules: which sorts exist, and that an unknown title is an error an admin can act on.
"""

from __future__ import annotations

from mdmtui.errors import NotFoundError, UsageError
from mdmtui.storage import software as stored
from mdmtui.storage.software import (  # noqa: F401 - the aggregate's upkeep, for the writers not yet moved
    NONE_KEY,
    TITLE_SORTS as TITLE_SORTS,
    Title as Title,
    TitleFilter as TitleFilter,
    Version as Version,
    add,
    add_ids,
    backfill,
    remove,
    remove_ids,
    settle,
)


def count_titles(f: TitleFilter) -> int:
    """How many titles match."""
    return stored.count_titles(f)


def titles(f: TitleFilter, offset: int = 0, limit: int = 100) -> list[Title]:
    """One page of matching titles in the filter's order, with their linkages."""
    if limit > 0 and f.sort not in TITLE_SORTS:
        raise UsageError(f"unknown sort '{f.sort}': choose from {', '.join(TITLE_SORTS)}")
    return stored.titles(f, offset, limit)


def title(name: str) -> Title:
    """One title by its exact name; NotFoundError when no device has it."""
    found = stored.title(name)
    if found is None:
        raise NotFoundError(f"no device has software titled '{name}' (mdmtui software list shows the titles)")
    return found


def versions(name: str) -> list[Version]:
    """The versions of a title, the most widespread first."""
    return stored.versions(name)
