"""Freeze the schema of a past commit as SQL, per dialect: ``python tests/data/freeze_schema.py REV VERSION``.

Writes ``tests/data/schema_v<VERSION>_<dialect>.sql`` from the models module at git revision REV.
The migration test builds an old database from these files, so it never depends on today's models.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

from peewee import PostgresqlDatabase, SqliteDatabase

HERE = Path(__file__).resolve().parent


def old_models(rev: str) -> list:
    """The model classes of the models module at ``rev`` (``mdmtui/storage/models.py``, or
    ``mdmtui/models.py`` before the storage package), in creation order."""
    for path in ("mdmtui/storage/models.py", "mdmtui/models.py"):
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, cwd=HERE)
        if shown.returncode == 0:
            break
    shown.check_returncode()
    module = types.ModuleType(f"models_{rev}")
    exec(compile(shown.stdout, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102 (our own history)
    return module.ALL_MODELS, module.database


def ddl(models: list, proxy, db) -> str:
    """CREATE TABLE and CREATE INDEX statements of ``models`` in ``db``'s dialect."""
    proxy.initialize(db)
    statements = []
    for model in models:
        sql, params = model._schema._create_table(safe=False).query()
        assert not params, params
        statements.append(sql)
        for index in model._schema._create_indexes(safe=False):
            sql, params = index.query()
            assert not params, params
            statements.append(sql)
    return "".join(s + ";\n" for s in statements)


def main(rev: str, version: str) -> None:
    """Write one SQL file per dialect."""
    models, proxy = old_models(rev)
    for dialect, db in (("sqlite", SqliteDatabase(None)), ("postgres", PostgresqlDatabase(None))):
        path = HERE / f"schema_v{version}_{dialect}.sql"
        header = f"-- mdmtui schema version {version} ({dialect}), frozen from {rev}:mdmtui/models.py\n"
        path.write_text(header + ddl(models, proxy, db), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
