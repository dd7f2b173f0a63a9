"""Send: batch the valid rows and create them on the server exactly once (stage 3).

Everything else in this package is private (``_name.py``).
"""

from importer.send._batch import iter_batches
from importer.send._classify import classify
from importer.send._decide import Decisions, decide
from importer.send._dispatch import SendReport, send_all
from importer.send._journal import (
    JOURNAL_FILE,
    ROW_CREATED,
    ROW_IN_FLIGHT,
    ROW_MOVED,
    Journal,
    RunLock,
    WrittenRow,
)

__all__ = [
    "JOURNAL_FILE",
    "ROW_CREATED",
    "ROW_IN_FLIGHT",
    "ROW_MOVED",
    "Decisions",
    "Journal",
    "RunLock",
    "SendReport",
    "WrittenRow",
    "classify",
    "decide",
    "iter_batches",
    "send_all",
]
