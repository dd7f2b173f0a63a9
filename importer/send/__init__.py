"""Send: batch the valid rows and create them on the server exactly once (stage 3).

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.send._batch import iter_batches
    from importer.send._dispatch import send_all
    from importer.send._holdings import (
        DIFFERS,
        EXISTS,
        LISTS_UNKNOWN,
        MISSING,
        NEW,
        PLAN_WORDS,
        Holdings,
        classify,
        organizations_of,
    )
    from importer.send._journal import (
        JOURNAL_FILE,
        ROW_CREATED,
        ROW_IN_FLIGHT,
        ROW_MOVED,
        Journal,
        RunLock,
    )
    from importer.send._pace import ConcurrencyLimit, RateLearner, describe

_LAZY: dict[str, str] = {
    "ConcurrencyLimit": "importer.send._pace",
    "DIFFERS": "importer.send._holdings",
    "EXISTS": "importer.send._holdings",
    "Holdings": "importer.send._holdings",
    "JOURNAL_FILE": "importer.send._journal",
    "Journal": "importer.send._journal",
    "LISTS_UNKNOWN": "importer.send._holdings",
    "MISSING": "importer.send._holdings",
    "NEW": "importer.send._holdings",
    "PLAN_WORDS": "importer.send._holdings",
    "ROW_CREATED": "importer.send._journal",
    "ROW_IN_FLIGHT": "importer.send._journal",
    "ROW_MOVED": "importer.send._journal",
    "RateLearner": "importer.send._pace",
    "RunLock": "importer.send._journal",
    "classify": "importer.send._holdings",
    "describe": "importer.send._pace",
    "iter_batches": "importer.send._batch",
    "organizations_of": "importer.send._holdings",
    "send_all": "importer.send._dispatch",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIFFERS",
    "EXISTS",
    "JOURNAL_FILE",
    "LISTS_UNKNOWN",
    "MISSING",
    "NEW",
    "PLAN_WORDS",
    "ROW_CREATED",
    "ROW_IN_FLIGHT",
    "ROW_MOVED",
    "ConcurrencyLimit",
    "Holdings",
    "Journal",
    "RateLearner",
    "RunLock",
    "classify",
    "describe",
    "iter_batches",
    "organizations_of",
    "send_all",
]
