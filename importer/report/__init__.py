"""Report: every row's outcome, written as errors/success CSV or xlsx and summary.json.

Everything else in this package is private (``_name.py``). The names load on first use, so that
importing the package costs nothing and no import cycle can form between packages.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.report._csv import frame_csv_text
    from importer.report._outcomes import (
        OUTCOME_COLUMNS,
        STAGE_NOT_PROCESSED,
        STAGE_REMOTE,
        STAGE_VALIDATION,
        STATUS_CREATED,
        STATUS_EXISTED,
        STATUS_MOVED,
        Outcomes,
    )
    from importer.report._report import (
        PAYLOADS_FILE,
        SUMMARY_FILE,
        ReportWriter,
        escape_labels,
        make_out_dir,
        output_labels,
        private_opener,
        write_json,
    )

_LAZY: dict[str, str] = {
    "OUTCOME_COLUMNS": "importer.report._outcomes",
    "Outcomes": "importer.report._outcomes",
    "PAYLOADS_FILE": "importer.report._report",
    "ReportWriter": "importer.report._report",
    "STAGE_NOT_PROCESSED": "importer.report._outcomes",
    "STAGE_REMOTE": "importer.report._outcomes",
    "STAGE_VALIDATION": "importer.report._outcomes",
    "STATUS_CREATED": "importer.report._outcomes",
    "STATUS_EXISTED": "importer.report._outcomes",
    "STATUS_MOVED": "importer.report._outcomes",
    "SUMMARY_FILE": "importer.report._report",
    "escape_labels": "importer.report._report",
    "frame_csv_text": "importer.report._csv",
    "make_out_dir": "importer.report._report",
    "output_labels": "importer.report._report",
    "private_opener": "importer.report._report",
    "write_json": "importer.report._report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OUTCOME_COLUMNS",
    "PAYLOADS_FILE",
    "STAGE_NOT_PROCESSED",
    "STAGE_REMOTE",
    "STAGE_VALIDATION",
    "STATUS_CREATED",
    "STATUS_EXISTED",
    "STATUS_MOVED",
    "SUMMARY_FILE",
    "Outcomes",
    "ReportWriter",
    "escape_labels",
    "frame_csv_text",
    "make_out_dir",
    "output_labels",
    "private_opener",
    "write_json",
]
