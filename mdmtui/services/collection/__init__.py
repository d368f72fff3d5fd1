"""Collection: stream a linkage's devices from its MDM into the inventory, atomically.

The package by concern:

- ``run.py``: the run's orchestration (``collect``, ``collect_many``): the stream, the re-check of
  absent devices, cancellation, the writer thread all database work of a run happens on;
- ``steps.py``: the run's steps on that thread (begin, stage a page, resolve identities, apply, finish);
- ``diff.py``: collected records vs the stored state, in plain data (no database);
- ``identity.py``: re-enrolment, SIM swaps, duplicates across linkages (the rules);
- ``report.py``: the summary line, the audit counts, the run's events and warnings.

All of its SQL lives in storage: ``storage/staging.py`` (the run's temporary tables and the apply),
``storage/runs.py`` (the run rows), ``storage/identity.py`` (the identity matches).
"""

from mdmtui.records import CollectionSummary
from mdmtui.services.collection import identity, report, diff, steps, run  # noqa: I001 - in dependency order
from mdmtui.services.collection.diff import HISTORY_SKIP, SEARCHED, fingerprint, search_text
from mdmtui.services.collection.report import EVENT_DETAIL_LIMIT, describe
from mdmtui.services.collection.run import (
    RECHECK_ONE_BY_ONE, ConnectorFactory, ProgressCallback, collect, collect_many,
)
from mdmtui.services.collection.steps import CHANGED_MARGIN, changed_since

__all__ = [
    "CHANGED_MARGIN", "EVENT_DETAIL_LIMIT", "HISTORY_SKIP", "RECHECK_ONE_BY_ONE", "SEARCHED", "CollectionSummary",
    "ConnectorFactory", "ProgressCallback", "changed_since", "collect", "collect_many", "describe", "diff",
    "fingerprint", "identity", "report", "run", "search_text", "steps",
]
