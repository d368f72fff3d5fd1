"""The identity queries of a collection: stored devices that share a key with a staged new device.

The rules (which keys, how long a key must be, who wins) are the collection service's
(``services/collection/identity.py``); this module only finds the matches, on both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import Database


def same_linkage_matches(db: Database, stage_table: str, linkage_id: int, keys: Sequence[str],
                         min_length: int) -> dict[str, list[tuple[int, str]]]:
    """New MDM id -> [(device id, matching key)] of stored devices of the same linkage sharing a key, by key
    in the order given, then by device id."""
    found: dict[str, list[tuple[int, str]]] = {}
    for key in keys:
        sql = (f"SELECT s.mdm_device_id, d.id FROM {stage_table} s JOIN device d "
               f"ON d.{key} = s.{key} AND d.linkage_id = {db.param} "
               f"WHERE LENGTH(s.{key}) >= {int(min_length)} ORDER BY d.id")
        for mdm_id, device_id in _sql(db, sql, (linkage_id,)).fetchall():
            found.setdefault(mdm_id, []).append((device_id, key))
    return found


def other_linkage_matches(db: Database, stage_table: str, linkage_id: int, keys: Sequence[str],
                          min_length: int) -> dict[str, list[tuple[int, str]]]:
    """New MDM id -> [(oldest device id, key)], one per key that matches, of devices of *other* linkages."""
    found: dict[str, list[tuple[int, str]]] = {}
    for key in keys:
        sql = (f"SELECT s.mdm_device_id, MIN(d.id) FROM {stage_table} s JOIN device d "
               f"ON d.{key} = s.{key} AND d.linkage_id <> {db.param} "
               f"WHERE LENGTH(s.{key}) >= {int(min_length)} GROUP BY s.mdm_device_id")
        for mdm_id, device_id in _sql(db, sql, (linkage_id,)).fetchall():
            found.setdefault(mdm_id, []).append((device_id, key))
    return found


def _sql(db: Database, sql: str, params: Sequence[Any]) -> Any:
    return db.execute_sql(sql, params)
